package main

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
)

// build writes the image of spec to spec.Output, through a temporary file in the same folder.
func build(spec *Spec) error {
	tag, err := name.NewTag(spec.Ref)
	if err != nil {
		return fmt.Errorf("ref %q: %w", spec.Ref, err)
	}
	created, err := spec.createdTime()
	if err != nil {
		return fmt.Errorf("created: %w", err)
	}
	work, err := os.MkdirTemp(filepath.Dir(spec.Output), ".builder-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(work)
	img, err := assemble(spec, work, created)
	if err != nil {
		return err
	}
	tmp := filepath.Join(work, "image.tar")
	if err := tarball.WriteToFile(tmp, tag, img); err != nil {
		return fmt.Errorf("writing %s: %w", spec.Output, err)
	}
	return os.Rename(tmp, spec.Output)
}

// assemble stacks the layers on an empty image and sets the config.
func assemble(spec *Spec, work string, created time.Time) (v1.Image, error) {
	img := empty.Image
	for i, l := range spec.Layers {
		file, err := writeLayerFile(work, l.Entries, created)
		if err != nil {
			return nil, fmt.Errorf("layer %d (%s): %w", i, l.Comment, err)
		}
		layer, err := tarball.LayerFromFile(file, tarball.WithCompressedCaching)
		if err != nil {
			return nil, err
		}
		img, err = mutate.Append(img, mutate.Addendum{
			Layer:   layer,
			History: v1.History{Created: v1.Time{Time: created}, CreatedBy: "k8s-ee local/images: " + l.Comment},
		})
		if err != nil {
			return nil, err
		}
	}
	cf, err := img.ConfigFile()
	if err != nil {
		return nil, err
	}
	cf = cf.DeepCopy()
	cf.Created = v1.Time{Time: created}
	cf.OS = orDefault(spec.OS, "linux")
	cf.Architecture = orDefault(spec.Architecture, "amd64")
	cf.Config = imageConfig(spec.Config)
	return mutate.ConfigFile(img, cf)
}

func imageConfig(c Config) v1.Config {
	cfg := v1.Config{
		Entrypoint: c.Entrypoint,
		Cmd:        c.Cmd,
		Env:        c.Env,
		User:       c.User,
		WorkingDir: c.WorkingDir,
		Labels:     c.Labels,
		StopSignal: c.StopSignal,
	}
	if len(c.ExposedPorts) > 0 {
		cfg.ExposedPorts = map[string]struct{}{}
		for _, p := range c.ExposedPorts {
			if !strings.Contains(p, "/") {
				p += "/tcp"
			}
			cfg.ExposedPorts[p] = struct{}{}
		}
	}
	return cfg
}
