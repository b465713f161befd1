//go:build unix

package camera

import "syscall"

// allocSlab maps n bytes of anonymous memory outside the Go heap: the
// kernel backs a page when it is first written, so an unused tail costs
// nothing, and the collector neither scans it nor paces itself by it.
// Should the mapping fail, the slab comes from the heap (it works, only
// costs more).
func allocSlab(n int) []byte {
	b, err := syscall.Mmap(-1, 0, max(n, 1), syscall.PROT_READ|syscall.PROT_WRITE,
		syscall.MAP_PRIVATE|syscall.MAP_ANON|syscall.MAP_NORESERVE)
	if err != nil {
		return make([]byte, n)
	}
	return b[:n]
}

// freeSlab unmaps a slab from allocSlab; nothing may use it afterwards.
func freeSlab(b []byte) {
	syscall.Munmap(b[:cap(b)]) //nolint:errcheck // a heap slab (mapping failed) is not mapped: EINVAL, and the GC frees it
}
