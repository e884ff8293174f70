// Package archtest holds TestArchitectureImports, which keeps docs/architecture.md true: its
// package tables must name every package of the module, exactly the module packages each one
// imports, and exactly the third-party modules it imports, as `go list` reports them. It has no
// code of its own.
package archtest
