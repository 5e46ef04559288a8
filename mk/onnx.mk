# mk/onnx.mk - the ONNX protobuf code, generated at build time (included by the top-level Makefile).
#
# src/nn/onnx_load.c parses .onnx files with protobuf-c.  Its message code is generated from the
# onnx.proto that Debian's libonnx-dev installs, by Debian's protoc-c (protobuf-c-compiler), into
# $(BUILD)/gen/ (build/gen/, or build-asan/gen/ for the sanitizer build): nothing generated is
# committed.  The generated object goes into libvisage.a next to the library's own objects.
#
# Include this after the `all:` rule (so it does not become the default goal) and after CFLAGS,
# LDLIBS and BUILD are set, e.g. just before the final `-include` line of the Makefile.

ONNX_PROTO ?= /usr/include/onnx/onnx.proto
PROTOC_C   ?= protoc-c
ONNX_GEN   := $(BUILD)/gen
ONNX_PB_C  := $(ONNX_GEN)/onnx.pb-c.c
ONNX_PB_H  := $(ONNX_GEN)/onnx.pb-c.h
ONNX_PB_O  := $(ONNX_GEN)/onnx.pb-c.o

CFLAGS += -I$(ONNX_GEN)
LDLIBS += -lprotobuf-c

# One protoc-c run writes both files (a pattern rule with two targets is one recipe for both).
$(ONNX_GEN)/%.pb-c.c $(ONNX_GEN)/%.pb-c.h: $(dir $(ONNX_PROTO))%.proto
	@mkdir -p $(ONNX_GEN)
	$(PROTOC_C) --proto_path=$(dir $(ONNX_PROTO)) --c_out=$(ONNX_GEN) $<

# Generated code is not ours to keep warning-free: compile it without -Werror.
$(ONNX_PB_O): $(ONNX_PB_C) $(ONNX_PB_H)
	$(CC) $(filter-out -Werror -MMD -MP,$(CFLAGS)) -c $< -o $@

# The loader includes the generated header; the library carries the generated object.
$(BUILD)/src/nn/onnx_load.o: $(ONNX_PB_H)
$(BUILD)/libvisage.a: $(ONNX_PB_O)
