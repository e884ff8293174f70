// Package version reports the build's version. Version is set at link time with
// -ldflags "-X github.com/clawchat/clawchat/internal/version.Version=v1.2.3"; without it the
// module build info is used.
package version

import "runtime/debug"

// Version is the release version, set by the linker. It is a variable only so that the linker can
// set it; nothing changes it at run time.
var Version = ""

// String returns the version, falling back to the module version or "dev".
func String() string {
	if Version != "" {
		return Version
	}
	if bi, ok := debug.ReadBuildInfo(); ok && bi.Main.Version != "" && bi.Main.Version != "(devel)" {
		return bi.Main.Version
	}
	return "dev"
}
