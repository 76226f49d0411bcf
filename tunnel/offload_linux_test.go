package tunnel

import (
	"encoding/binary"
	"testing"
	"unsafe"

	"golang.org/x/sys/unix"
)

// segmentCmsgSize returns the segment size of the UDP_SEGMENT control
// message oob, -1 if it is not one.
func segmentCmsgSize(oob []byte) int {
	if len(oob) < unix.CmsgSpace(2) {
		return -1
	}
	h := (*unix.Cmsghdr)(unsafe.Pointer(&oob[0]))
	if h.Level != unix.IPPROTO_UDP || h.Type != unix.UDP_SEGMENT || h.Len != uint64(unix.CmsgLen(2)) {
		return -1
	}
	return int(binary.NativeEndian.Uint16(oob[unix.CmsgLen(0):]))
}

// TestGROSize: groSize finds the UDP_GRO control message among others and
// is not fooled by malformed ones.
func TestGROSize(t *testing.T) {
	cmsg := func(level, typ int32, data []byte) []byte {
		b := make([]byte, unix.CmsgSpace(len(data)))
		h := (*unix.Cmsghdr)(unsafe.Pointer(&b[0]))
		h.Level, h.Type = level, typ
		h.SetLen(unix.CmsgLen(len(data)))
		copy(b[unix.CmsgLen(0):], data)
		return b
	}
	le := func(v uint32) []byte { return binary.NativeEndian.AppendUint32(nil, v) }
	gro := cmsg(unix.IPPROTO_UDP, unix.UDP_GRO, le(1372))
	other := cmsg(unix.IPPROTO_IP, unix.IP_TOS, []byte{0})
	bad := cmsg(unix.IPPROTO_UDP, unix.UDP_GRO, le(1372))
	binary.NativeEndian.PutUint64(bad, 1000) // longer than the buffer
	for _, tc := range []struct {
		name string
		oob  []byte
		want int
	}{
		{"none", nil, 0},
		{"gro", gro, 1372},
		{"after another", append(append([]byte(nil), other...), gro...), 1372},
		{"other only", other, 0},
		{"bad length", bad, 0},
		{"short", gro[:10], 0},
		{"segment", putSegmentCmsg(make([]byte, gsoCmsgSpace), 1400), 0},
	} {
		if got := groSize(tc.oob); got != tc.want {
			t.Errorf("%s: groSize %d, want %d", tc.name, got, tc.want)
		}
	}
	if got := segmentCmsgSize(putSegmentCmsg(make([]byte, gsoCmsgSpace), 1400)); got != 1400 {
		t.Errorf("putSegmentCmsg: segment size %d, want 1400", got)
	}
}
