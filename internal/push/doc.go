// Package push sends Web Push notifications (RFC 8030, encrypted with aes128gcm per RFC 8291 and
// authenticated with VAPID per RFC 8292) when an assistant reply finishes.
//
// It owns the VAPID keys, the validation of browser subscriptions (https endpoints on an
// allowlist of push-service hosts, so the server cannot be made to POST anywhere), the cap on
// subscriptions per user, sending with bounded concurrency and timeouts, and pruning of
// subscriptions the push service reports as gone (404/410). Persistence and the cross-instance
// "exactly once" claim come from a Store, implemented by internal/store.
//
// Secrets: a subscription's auth key and endpoint path are capabilities and the message text is
// private. None of them is ever logged or put into an error; logs name only the endpoint host.
package push
