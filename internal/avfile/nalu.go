package avfile

import (
	"encoding/binary"
	"errors"
)

// Codec names as used across lanewatch (and by RTSP/SDP).
const (
	CodecH264 = "H264"
	CodecH265 = "H265"
)

// NAL unit types that carry parameter sets.
const (
	h264NALSPS = 7
	h264NALPPS = 8
	h265NALVPS = 32
	h265NALSPS = 33
	h265NALPPS = 34
)

// NALUType returns the NAL unit type of nalu for codec, or -1 for an empty unit.
func NALUType(codec string, nalu []byte) int {
	if len(nalu) == 0 {
		return -1
	}
	if codec == CodecH265 {
		return int(nalu[0]>>1) & 0x3f
	}
	return int(nalu[0] & 0x1f)
}

// IsParamSet reports whether nalu is a VPS, SPS or PPS of codec.
func IsParamSet(codec string, nalu []byte) bool {
	t := NALUType(codec, nalu)
	if codec == CodecH265 {
		return t == h265NALVPS || t == h265NALSPS || t == h265NALPPS
	}
	return t == h264NALSPS || t == h264NALPPS
}

// ParamSets holds the parameter sets of a stream; VPS is nil for H.264.
type ParamSets struct {
	VPS, SPS, PPS []byte
}

// List returns the non-empty sets in decoding order (VPS, SPS, PPS).
func (p ParamSets) List() [][]byte {
	var out [][]byte
	for _, b := range [][]byte{p.VPS, p.SPS, p.PPS} {
		if len(b) > 0 {
			out = append(out, b)
		}
	}
	return out
}

// complete reports whether every set codec needs is present.
func (p ParamSets) complete(codec string) bool {
	if len(p.SPS) == 0 || len(p.PPS) == 0 {
		return false
	}
	return codec != CodecH265 || len(p.VPS) > 0
}

// take records nalu if it is a parameter set not yet seen. The first one of
// each kind wins because that is the one the stream starts decoding with.
func (p *ParamSets) take(codec string, nalu []byte) {
	t := NALUType(codec, nalu)
	cp := func(dst *[]byte) {
		if *dst == nil {
			*dst = append([]byte(nil), nalu...)
		}
	}
	switch {
	case codec == CodecH265 && t == h265NALVPS:
		cp(&p.VPS)
	case codec == CodecH265 && t == h265NALSPS, codec == CodecH264 && t == h264NALSPS:
		cp(&p.SPS)
	case codec == CodecH265 && t == h265NALPPS, codec == CodecH264 && t == h264NALPPS:
		cp(&p.PPS)
	}
}

var errBadBitstream = errors.New("malformed bitstream")

// SplitAnnexB splits an Annex-B byte stream (00 00 01 / 00 00 00 01 start
// codes) into NAL units without start codes. Bytes before the first start code
// are not a NAL unit and are an error, as is an input with no start code.
// Returned slices alias b.
func SplitAnnexB(b []byte) ([][]byte, error) {
	var out [][]byte
	start := -1 // index of the first byte of the current NALU
	i := 0
	for i+2 < len(b) {
		if b[i] == 0 && b[i+1] == 0 && b[i+2] == 1 {
			if start < 0 {
				for _, c := range b[:i] {
					if c != 0 {
						return nil, errBadBitstream
					}
				}
			} else {
				out = appendNALU(out, b[start:i])
			}
			i += 3
			start = i
			continue
		}
		i++
	}
	if start < 0 {
		return nil, errBadBitstream
	}
	out = appendNALU(out, b[start:])
	return out, nil
}

// appendNALU appends n minus its trailing zero bytes (the leading zero of a
// 4-byte start code, or trailing_zero_8bits), skipping empty units.
func appendNALU(out [][]byte, n []byte) [][]byte {
	for len(n) > 0 && n[len(n)-1] == 0 {
		n = n[:len(n)-1]
	}
	if len(n) == 0 {
		return out
	}
	return append(out, n)
}

// SplitLengthPrefixed splits AVCC/HVCC sample data whose NAL units are each
// preceded by a big-endian length of lengthSize bytes (1, 2 or 4). Returned
// slices alias b.
func SplitLengthPrefixed(b []byte, lengthSize int) ([][]byte, error) {
	if lengthSize != 1 && lengthSize != 2 && lengthSize != 4 {
		return nil, errBadBitstream
	}
	var out [][]byte
	for len(b) > 0 {
		if len(b) < lengthSize {
			return nil, errBadBitstream
		}
		var n uint64
		switch lengthSize {
		case 1:
			n = uint64(b[0])
		case 2:
			n = uint64(binary.BigEndian.Uint16(b))
		case 4:
			n = uint64(binary.BigEndian.Uint32(b))
		}
		b = b[lengthSize:]
		if n > uint64(len(b)) {
			return nil, errBadBitstream
		}
		if n > 0 {
			out = append(out, b[:n])
		}
		b = b[n:]
	}
	return out, nil
}

// JoinAnnexB is the inverse of SplitAnnexB: each unit prefixed by 00 00 00 01.
func JoinAnnexB(nalus [][]byte) []byte {
	n := 0
	for _, u := range nalus {
		n += 4 + len(u)
	}
	out := make([]byte, 0, n)
	for _, u := range nalus {
		out = append(out, 0, 0, 0, 1)
		out = append(out, u...)
	}
	return out
}

// parseExtradata reads codec configuration as libavformat exposes it: an
// avcC/hvcC record (first byte 1) or Annex-B parameter sets. It returns the
// parameter sets and the NALU length size of samples (0 for Annex-B samples).
func parseExtradata(codec string, ed []byte) (ParamSets, int, error) {
	var ps ParamSets
	if len(ed) == 0 {
		return ps, 0, nil
	}
	if ed[0] != 1 {
		nalus, err := SplitAnnexB(ed)
		if err != nil {
			return ps, 0, err
		}
		for _, n := range nalus {
			ps.take(codec, n)
		}
		return ps, 0, nil
	}
	if codec == CodecH265 {
		return parseHVCC(ed)
	}
	return parseAVCC(ed)
}

// parseAVCC reads an AVCDecoderConfigurationRecord (ISO/IEC 14496-15 5.3.3).
func parseAVCC(b []byte) (ParamSets, int, error) {
	var ps ParamSets
	if len(b) < 7 {
		return ps, 0, errBadBitstream
	}
	lengthSize := int(b[4]&3) + 1
	if lengthSize == 3 {
		return ps, 0, errBadBitstream
	}
	p := b[5:]
	for pass := 0; pass < 2; pass++ { // SPS array, then PPS array
		if len(p) < 1 {
			return ps, 0, errBadBitstream
		}
		count := int(p[0])
		if pass == 0 {
			count &= 0x1f
		}
		var err error
		if p, err = readParamArray(&ps, CodecH264, p[1:], count); err != nil {
			return ps, 0, err
		}
	}
	return ps, lengthSize, nil
}

// parseHVCC reads an HEVCDecoderConfigurationRecord (ISO/IEC 14496-15 8.3.3).
func parseHVCC(b []byte) (ParamSets, int, error) {
	var ps ParamSets
	if len(b) < 23 {
		return ps, 0, errBadBitstream
	}
	lengthSize := int(b[21]&3) + 1
	if lengthSize == 3 {
		return ps, 0, errBadBitstream
	}
	numArrays := int(b[22])
	p := b[23:]
	for a := 0; a < numArrays; a++ {
		if len(p) < 3 {
			return ps, 0, errBadBitstream
		}
		count := int(binary.BigEndian.Uint16(p[1:]))
		var err error
		if p, err = readParamArray(&ps, CodecH265, p[3:], count); err != nil {
			return ps, 0, err
		}
	}
	return ps, lengthSize, nil
}

// readParamArray reads count 16-bit-length-prefixed units, the layout both
// configuration records use, and returns what follows them.
func readParamArray(ps *ParamSets, codec string, p []byte, count int) ([]byte, error) {
	for i := 0; i < count; i++ {
		if len(p) < 2 {
			return nil, errBadBitstream
		}
		n := int(binary.BigEndian.Uint16(p))
		p = p[2:]
		if n > len(p) {
			return nil, errBadBitstream
		}
		ps.take(codec, p[:n])
		p = p[n:]
	}
	return p, nil
}
