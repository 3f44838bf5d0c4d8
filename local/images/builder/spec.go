package main

import (
	"encoding/json"
	"fmt"
	"os"
	"path"
	"strconv"
	"strings"
	"time"
)

// Spec is what local/images/build.ts writes: one image, its layers and its config.
type Spec struct {
	Ref          string  `json:"ref"`
	Output       string  `json:"output"`
	Created      string  `json:"created,omitempty"` // RFC 3339; the Unix epoch when empty, so builds are reproducible
	OS           string  `json:"os,omitempty"`
	Architecture string  `json:"architecture,omitempty"`
	Layers       []Layer `json:"layers"`
	Config       Config  `json:"config"`
}

// Layer is one filesystem layer; its comment becomes the history entry.
type Layer struct {
	Comment string  `json:"comment"`
	Entries []Entry `json:"entries"`
}

// Entry is one path in a layer. Types:
//   - file: a regular file from Source, or from Content when Source is empty
//   - dir: an empty directory
//   - tree: the directory Source copied recursively (directories, regular files and symlinks)
//   - symlink: a symbolic link to Target
type Entry struct {
	Path    string  `json:"path"`
	Type    string  `json:"type"`
	Source  string  `json:"source,omitempty"`
	Content *string `json:"content,omitempty"`
	Target  string  `json:"target,omitempty"`
	Mode    string  `json:"mode,omitempty"` // octal, e.g. "0755" or "1777"; defaults depend on the type
	UID     int     `json:"uid"`
	GID     int     `json:"gid"`
}

// Config is the part of the OCI image config that a Dockerfile sets.
type Config struct {
	Entrypoint   []string          `json:"Entrypoint,omitempty"`
	Cmd          []string          `json:"Cmd,omitempty"`
	Env          []string          `json:"Env,omitempty"`
	User         string            `json:"User,omitempty"`
	WorkingDir   string            `json:"WorkingDir,omitempty"`
	ExposedPorts []string          `json:"ExposedPorts,omitempty"`
	Labels       map[string]string `json:"Labels,omitempty"`
	StopSignal   string            `json:"StopSignal,omitempty"`
}

func loadSpec(file string) (*Spec, error) {
	raw, err := os.ReadFile(file)
	if err != nil {
		return nil, err
	}
	var spec Spec
	dec := json.NewDecoder(strings.NewReader(string(raw)))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&spec); err != nil {
		return nil, fmt.Errorf("%s: %w", file, err)
	}
	if err := spec.validate(); err != nil {
		return nil, fmt.Errorf("%s: %w", file, err)
	}
	return &spec, nil
}

func (s *Spec) validate() error {
	if s.Ref == "" || s.Output == "" {
		return fmt.Errorf("ref and output are required")
	}
	if len(s.Layers) == 0 {
		return fmt.Errorf("an image needs at least one layer")
	}
	for _, l := range s.Layers {
		for _, e := range l.Entries {
			if err := e.validate(); err != nil {
				return err
			}
		}
	}
	return nil
}

func (e Entry) validate() error {
	if !path.IsAbs(e.Path) || path.Clean(e.Path) != e.Path || e.Path == "/" {
		return fmt.Errorf("entry path %q must be absolute, clean and not /", e.Path)
	}
	if _, err := e.mode(0); err != nil {
		return err
	}
	switch e.Type {
	case "file":
		if (e.Source == "") == (e.Content == nil) {
			return fmt.Errorf("%s: a file needs exactly one of source and content", e.Path)
		}
	case "tree":
		if e.Source == "" {
			return fmt.Errorf("%s: a tree needs a source directory", e.Path)
		}
	case "symlink":
		if e.Target == "" {
			return fmt.Errorf("%s: a symlink needs a target", e.Path)
		}
	case "dir":
	default:
		return fmt.Errorf("%s: unknown entry type %q (file, dir, tree, symlink)", e.Path, e.Type)
	}
	return nil
}

// mode is the entry's octal mode, or def when none is given.
func (e Entry) mode(def int64) (int64, error) {
	if e.Mode == "" {
		return def, nil
	}
	m, err := strconv.ParseInt(e.Mode, 8, 64)
	if err != nil || m < 0 || m > 0o7777 {
		return 0, fmt.Errorf("%s: mode %q is not an octal mode", e.Path, e.Mode)
	}
	return m, nil
}

func (s *Spec) createdTime() (time.Time, error) {
	if s.Created == "" {
		return time.Unix(0, 0).UTC(), nil
	}
	return time.Parse(time.RFC3339, s.Created)
}

func orDefault(value, def string) string {
	if value == "" {
		return def
	}
	return value
}
