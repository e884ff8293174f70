//go:build !lighthouse

package e2e

// longTaskLimitMS is the longest main-thread task TestBrowserPhoneStreamingLongTasks accepts in
// the normal suite: a regression guard robust to a loaded machine (a whole-reply re-render
// takes longer). The 50 ms target is asserted by `make lighthouse` (perf_limit_lighthouse_test.go).
const longTaskLimitMS = 250
