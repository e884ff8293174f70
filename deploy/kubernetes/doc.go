// Package kubernetes holds clawchat's plain Kubernetes manifests (*.yaml in this directory) and a
// test that parses them and checks the security and availability properties the deployment
// promises (docs/deploy.md). There is no Go code to import here.
package kubernetes
