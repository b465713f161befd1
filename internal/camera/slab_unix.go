//go:build unix

package camera

import (
	"os"
	"syscall"
	"unsafe"
)

// allocSlab maps n bytes of anonymous memory outside the Go heap: the
// kernel backs a page when it is first written, so an unused tail costs
// nothing, and the collector neither scans it nor paces itself by it.
// mapped is false when the mapping failed and the slab comes from the heap
// (it works, only costs more).
func allocSlab(n int) (b []byte, mapped bool) {
	b, err := syscall.Mmap(-1, 0, max(n, 1), syscall.PROT_READ|syscall.PROT_WRITE,
		syscall.MAP_PRIVATE|syscall.MAP_ANON|syscall.MAP_NORESERVE)
	if err != nil {
		return make([]byte, n), false
	}
	return b[:n], true
}

// freeSlab unmaps a slab from allocSlab; nothing may use it afterwards.
func freeSlab(b []byte) {
	syscall.Munmap(b[:cap(b)]) //nolint:errcheck // only fails for a slab that is not mapped
}

// releaseSlab gives the whole pages inside b[lo:hi] back to the kernel:
// their bytes are free, and the next write there gets a fresh zero page.
func releaseSlab(b []byte, lo, hi int) {
	page := os.Getpagesize()
	lo = (lo + page - 1) / page * page
	hi = hi / page * page
	if hi > lo {
		syscall.Madvise(b[lo:hi], syscall.MADV_DONTNEED) //nolint:errcheck // advice: at worst the pages stay
	}
}

// residentSlab is how many bytes of the slab's first n are in memory.
func residentSlab(b []byte, n int) int {
	page := os.Getpagesize()
	pages := (n + page - 1) / page
	if pages == 0 {
		return 0
	}
	vec := make([]byte, pages)
	if _, _, e := syscall.Syscall(syscall.SYS_MINCORE, uintptr(unsafe.Pointer(&b[0])), uintptr(pages*page),
		uintptr(unsafe.Pointer(&vec[0]))); e != 0 {
		return pages * page
	}
	res := 0
	for _, v := range vec {
		res += int(v & 1)
	}
	return res * page
}
