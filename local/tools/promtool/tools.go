//go:build tools

// Package tools pins promtool (github.com/prometheus/prometheus/cmd/promtool) at the version in go.mod, so
// `go build github.com/prometheus/prometheus/cmd/promtool` inside this module builds exactly that version. The
// chart tests use it for `promtool test rules` against the rendered PrometheusRule.
package tools

import _ "github.com/prometheus/prometheus/cmd/promtool"
