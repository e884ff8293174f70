package app

import (
	"bufio"
	"fmt"
	"os"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"
)

// releaseStartupPages drops this process's mappings of the read-only parts of its own executable
// (code and read-only data), once start-up is over, and returns how many bytes of mappings it
// covered.
//
// Why: a page-residency profile of an idle clawchat (docs/benchmarks.md, "Idle RSS") shows 16–17 MiB
// of the binary resident, 82 % of the code segment, although an idle instance re-touches only
// about 6 MiB of it: start-up (package initialisation of SQLite, pgx, go-redis, OIDC, the store
// migrations) touches code spread over the whole binary, and the kernel's read-around (128 KiB per
// fault) and fault-around (64 KiB) map the neighbouring pages too. Those pages are clean copies
// of the file: after MADV_DONTNEED they stay in the page cache, and any page needed again is
// mapped back on first use by a minor fault, with the same contents. Writable mappings (Go's
// data and bss) are never touched.
func releaseStartupPages() (int64, error) {
	exe, err := os.Readlink("/proc/self/exe")
	if err != nil {
		return 0, fmt.Errorf("release start-up pages: %w", err)
	}
	f, err := os.Open("/proc/self/maps")
	if err != nil {
		return 0, fmt.Errorf("release start-up pages: %w", err)
	}
	defer f.Close()
	var total int64
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		// 00400000-00dcd000 r-xp 00000000 fe:00 9978848   /path/to/clawchat
		fields := strings.Fields(sc.Text())
		if len(fields) < 6 || strings.Join(fields[5:], " ") != exe || strings.ContainsRune(fields[1], 'w') || fields[1][0] != 'r' {
			continue
		}
		lo, hi, ok := strings.Cut(fields[0], "-")
		if !ok {
			continue
		}
		start, err1 := strconv.ParseUint(lo, 16, 64)
		end, err2 := strconv.ParseUint(hi, 16, 64)
		if err1 != nil || err2 != nil || end <= start {
			continue
		}
		if _, _, errno := unix.Syscall(unix.SYS_MADVISE, uintptr(start), uintptr(end-start), unix.MADV_DONTNEED); errno != 0 {
			return total, fmt.Errorf("release start-up pages: madvise: %w", errno)
		}
		total += int64(end - start)
	}
	return total, sc.Err()
}
