#!/usr/bin/perl
# u8_to_f32.pl - turn a raw uint8 image (a golden input.u8) into the raw little-endian float32
# input a model takes: each byte x becomes x * SCALE + OFFSET (float32, as the golden generators
# compute it).
#
#   scripts/u8_to_f32.pl SCALE OFFSET < input.u8 > input.f32
use strict;
use warnings;

die "usage: u8_to_f32.pl SCALE OFFSET < in.u8 > out.f32\n" unless @ARGV == 2;
my ($scale, $offset) = @ARGV;
binmode STDIN;
binmode STDOUT;
local $/;
my $bytes = <STDIN> // '';
# Round through float32 twice, like TFJS's mul then add on float32 tensors.
my $s = unpack('f<', pack('f<', $scale));
my $o = unpack('f<', pack('f<', $offset));
print pack('f<*', map { unpack('f<', pack('f<', $_ * $s)) + $o } unpack('C*', $bytes));
