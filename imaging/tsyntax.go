package imaging

import "fmt"

// codec says how a transfer syntax stores pixels.
type codec int

const (
	codecNative codec = iota
	codecDeflate
	codecRLE
	codecJPEGDCT      // baseline and extended (8 and 12 bits)
	codecJPEGLossless // process 14, any predictor
	codecJPEGLS
	codecJPEG2000
	codecEncapsulatedNative // 1.2.840.10008.1.2.1.98
	codecUnsupported
)

type transferSyntax struct {
	uid, name string
	codec     codec
	bigEndian bool
	implicit  bool
	lossy     bool
}

// transferSyntaxes lists every transfer syntax of PS3.6 Annex A that cxrview
// names; those with codecUnsupported give a clear error.
var transferSyntaxes = []transferSyntax{
	{"1.2.840.10008.1.2", "Implicit VR Little Endian", codecNative, false, true, false},
	{"1.2.840.10008.1.2.1", "Explicit VR Little Endian", codecNative, false, false, false},
	{"1.2.840.10008.1.2.1.98", "Encapsulated Uncompressed Explicit VR Little Endian", codecEncapsulatedNative, false, false, false},
	{"1.2.840.10008.1.2.1.99", "Deflated Explicit VR Little Endian", codecDeflate, false, false, false},
	{"1.2.840.10008.1.2.2", "Explicit VR Big Endian", codecNative, true, false, false},
	{"1.2.840.10008.1.2.4.50", "JPEG Baseline (Process 1)", codecJPEGDCT, false, false, true},
	{"1.2.840.10008.1.2.4.51", "JPEG Extended (Process 2 & 4)", codecJPEGDCT, false, false, true},
	{"1.2.840.10008.1.2.4.57", "JPEG Lossless, Non-Hierarchical (Process 14)", codecJPEGLossless, false, false, false},
	{"1.2.840.10008.1.2.4.70", "JPEG Lossless SV1", codecJPEGLossless, false, false, false},
	{"1.2.840.10008.1.2.4.80", "JPEG-LS Lossless", codecJPEGLS, false, false, false},
	{"1.2.840.10008.1.2.4.81", "JPEG-LS Near-Lossless", codecJPEGLS, false, false, true},
	{"1.2.840.10008.1.2.4.90", "JPEG 2000 Lossless Only", codecJPEG2000, false, false, false},
	{"1.2.840.10008.1.2.4.91", "JPEG 2000", codecJPEG2000, false, false, true},
	{"1.2.840.10008.1.2.5", "RLE Lossless", codecRLE, false, false, false},

	{"1.2.840.10008.1.2.4.52", "JPEG Extended (Process 3 & 5, retired)", codecUnsupported, false, false, true},
	{"1.2.840.10008.1.2.4.53", "JPEG Spectral Selection, Non-Hierarchical (Process 6 & 8, retired)", codecUnsupported, false, false, true},
	{"1.2.840.10008.1.2.4.54", "JPEG Spectral Selection, Non-Hierarchical (Process 7 & 9, retired)", codecUnsupported, false, false, true},
	{"1.2.840.10008.1.2.4.55", "JPEG Full Progression, Non-Hierarchical (Process 10 & 12, retired)", codecUnsupported, false, false, true},
	{"1.2.840.10008.1.2.4.56", "JPEG Full Progression, Non-Hierarchical (Process 11 & 13, retired)", codecUnsupported, false, false, true},
	{"1.2.840.10008.1.2.4.58", "JPEG Lossless, Non-Hierarchical (Process 15, retired)", codecUnsupported, false, false, false},
	{"1.2.840.10008.1.2.4.59", "JPEG Extended, Hierarchical (Process 16 & 18, retired)", codecUnsupported, false, false, true},
	{"1.2.840.10008.1.2.4.60", "JPEG Extended, Hierarchical (Process 17 & 19, retired)", codecUnsupported, false, false, true},
	{"1.2.840.10008.1.2.4.61", "JPEG Spectral Selection, Hierarchical (Process 20 & 22, retired)", codecUnsupported, false, false, true},
	{"1.2.840.10008.1.2.4.62", "JPEG Spectral Selection, Hierarchical (Process 21 & 23, retired)", codecUnsupported, false, false, true},
	{"1.2.840.10008.1.2.4.63", "JPEG Full Progression, Hierarchical (Process 24 & 26, retired)", codecUnsupported, false, false, true},
	{"1.2.840.10008.1.2.4.64", "JPEG Full Progression, Hierarchical (Process 25 & 27, retired)", codecUnsupported, false, false, true},
	{"1.2.840.10008.1.2.4.65", "JPEG Lossless, Hierarchical (Process 28, retired)", codecUnsupported, false, false, false},
	{"1.2.840.10008.1.2.4.66", "JPEG Lossless, Hierarchical (Process 29, retired)", codecUnsupported, false, false, false},
	{"1.2.840.10008.1.2.4.92", "JPEG 2000 Part 2 Multi-component Lossless Only", codecUnsupported, false, false, false},
	{"1.2.840.10008.1.2.4.93", "JPEG 2000 Part 2 Multi-component", codecUnsupported, false, false, true},
	{"1.2.840.10008.1.2.4.94", "JPIP Referenced", codecUnsupported, false, false, false},
	{"1.2.840.10008.1.2.4.95", "JPIP Referenced Deflate", codecUnsupported, false, false, false},
	{"1.2.840.10008.1.2.4.100", "MPEG2 Main Profile / Main Level", codecUnsupported, false, false, true},
	{"1.2.840.10008.1.2.4.101", "MPEG2 Main Profile / High Level", codecUnsupported, false, false, true},
	{"1.2.840.10008.1.2.4.102", "MPEG-4 AVC/H.264 High Profile / Level 4.1", codecUnsupported, false, false, true},
	{"1.2.840.10008.1.2.4.103", "MPEG-4 AVC/H.264 BD-compatible High Profile / Level 4.1", codecUnsupported, false, false, true},
	{"1.2.840.10008.1.2.4.104", "MPEG-4 AVC/H.264 High Profile / Level 4.2 For 2D Video", codecUnsupported, false, false, true},
	{"1.2.840.10008.1.2.4.105", "MPEG-4 AVC/H.264 High Profile / Level 4.2 For 3D Video", codecUnsupported, false, false, true},
	{"1.2.840.10008.1.2.4.106", "MPEG-4 AVC/H.264 Stereo High Profile / Level 4.2", codecUnsupported, false, false, true},
	{"1.2.840.10008.1.2.4.107", "HEVC/H.265 Main Profile / Level 5.1", codecUnsupported, false, false, true},
	{"1.2.840.10008.1.2.4.108", "HEVC/H.265 Main 10 Profile / Level 5.1", codecUnsupported, false, false, true},
	{"1.2.840.10008.1.2.4.110", "JPEG XL Lossless", codecUnsupported, false, false, false},
	{"1.2.840.10008.1.2.4.111", "JPEG XL JPEG Recompression", codecUnsupported, false, false, false},
	{"1.2.840.10008.1.2.4.112", "JPEG XL", codecUnsupported, false, false, true},
	{"1.2.840.10008.1.2.4.201", "High-Throughput JPEG 2000 Lossless Only", codecUnsupported, false, false, false},
	{"1.2.840.10008.1.2.4.202", "High-Throughput JPEG 2000 with RPCL Options Lossless Only", codecUnsupported, false, false, false},
	{"1.2.840.10008.1.2.4.203", "High-Throughput JPEG 2000", codecUnsupported, false, false, true},
	{"1.2.840.10008.1.2.6.1", "RFC 2557 MIME encapsulation (retired)", codecUnsupported, false, false, false},
	{"1.2.840.10008.1.2.6.2", "XML Encoding (retired)", codecUnsupported, false, false, false},
}

// lookupTransferSyntax finds uid; ok is false for unknown and private UIDs.
func lookupTransferSyntax(uid string) (transferSyntax, bool) {
	for _, ts := range transferSyntaxes {
		if ts.uid == uid {
			return ts, true
		}
	}
	return transferSyntax{uid: uid, name: "unknown or private", codec: codecUnsupported}, false
}

// String gives the UID and its name, as Meta.TransferSyntax shows it.
func (ts transferSyntax) String() string {
	return fmt.Sprintf("%s (%s)", ts.uid, ts.name)
}
