# mk/embed.mk - files compiled into the library as byte arrays (included by the top-level
# Makefile, next to mk/onnx.mk).
#
# src/http/openapi.json (the OpenAPI document that GET /v1/openapi.json serves) becomes
# $(BUILD)/gen/openapi_json.c with `const char vs_http_openapi_json[]` (NUL-terminated) and
# `vs_http_openapi_json_len`, so the binary needs no file at run time.  od and sed are in every
# Debian base system.

OPENAPI_JSON := src/http/openapi.json
OPENAPI_C    := $(BUILD)/gen/openapi_json.c
OPENAPI_O    := $(BUILD)/gen/openapi_json.o

$(OPENAPI_C): $(OPENAPI_JSON) mk/embed.mk
	@mkdir -p $(dir $@)
	{ echo '#include <stddef.h>'; \
	  echo 'const char vs_http_openapi_json[] = {'; \
	  od -An -v -tx1 $< | sed 's/\([0-9a-f][0-9a-f]\)/0x\1,/g'; \
	  echo '0};'; \
	  echo 'const size_t vs_http_openapi_json_len = sizeof vs_http_openapi_json - 1;'; } > $@

$(OPENAPI_O): $(OPENAPI_C)
	$(CC) $(CFLAGS) -c $< -o $@

$(BUILD)/libvisage.a: $(OPENAPI_O)
