//go:build lighthouse

package e2e

// longTaskLimitMS is the target TestBrowserPhoneStreamingLongTasks asserts under `make
// lighthouse`: no main-thread task over 50 ms while streaming (docs/lighthouse.md).
const longTaskLimitMS = 50
