// Command builder writes container images as docker-archive tarballs (what `ctr images import` and
// `docker load` accept), from a JSON spec written by local/images/build.ts. It uses go-containerregistry
// for the image format; only the layer contents are written here, with fixed timestamps and owners, so
// the same inputs give the same archive byte for byte.
//
//	builder build <spec.json>          write spec.output
//	builder inspect <archive.tar>      print the tags, config and per-layer file list as JSON
//	builder extract <archive.tar> <dir> unpack the flattened filesystem into dir (for tests)
package main

import (
	"fmt"
	"os"
)

func main() {
	if err := run(os.Args[1:]); err != nil {
		fmt.Fprintf(os.Stderr, "builder: %v\n", err)
		os.Exit(1)
	}
}

func run(args []string) error {
	switch {
	case len(args) == 2 && args[0] == "build":
		spec, err := loadSpec(args[1])
		if err != nil {
			return err
		}
		return build(spec)
	case len(args) == 2 && args[0] == "inspect":
		return inspect(args[1], os.Stdout)
	case len(args) == 3 && args[0] == "extract":
		return extract(args[1], args[2])
	default:
		return fmt.Errorf("usage: builder build <spec.json> | inspect <archive.tar> | extract <archive.tar> <dir>")
	}
}
