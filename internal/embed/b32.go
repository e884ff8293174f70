package embed

import "encoding/base32"

// base32NoPad is the account id alphabet auth uses: lower-case [a-z2-7], no padding.
func base32NoPad() *base32.Encoding {
	return base32.NewEncoding("abcdefghijklmnopqrstuvwxyz234567").WithPadding(base32.NoPadding)
}
