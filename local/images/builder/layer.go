package main

import (
	"archive/tar"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"sort"
	"strings"
	"time"
)

// item is one tar entry of a layer: its header, and for regular files the file its bytes come from.
type item struct {
	hdr     tar.Header
	source  string
	content []byte
}

// layerItems collects the tar entries of a layer by their path inside the image.
type layerItems struct {
	items    map[string]*item
	explicit map[string]bool
	modTime  time.Time
}

func newLayerItems(modTime time.Time) *layerItems {
	return &layerItems{items: map[string]*item{}, explicit: map[string]bool{}, modTime: modTime}
}

func (l *layerItems) put(p string, it *item, explicit bool) error {
	if l.explicit[p] {
		return fmt.Errorf("%s is in the layer twice", p)
	}
	if explicit {
		l.explicit[p] = true
	}
	it.hdr.Name = strings.TrimPrefix(p, "/")
	if it.hdr.Typeflag == tar.TypeDir {
		it.hdr.Name += "/"
	}
	it.hdr.ModTime = l.modTime
	it.hdr.Format = tar.FormatPAX
	l.items[p] = it
	l.addParents(p)
	return nil
}

// addParents adds the missing parent directories of p (root-owned, 0755).
func (l *layerItems) addParents(p string) {
	for dir := path.Dir(p); dir != "/"; dir = path.Dir(dir) {
		if _, ok := l.items[dir]; ok {
			continue
		}
		l.items[dir] = &item{hdr: tar.Header{
			Typeflag: tar.TypeDir, Name: strings.TrimPrefix(dir, "/") + "/", Mode: 0o755,
			ModTime: l.modTime, Format: tar.FormatPAX,
		}}
	}
}

func (l *layerItems) add(e Entry) error {
	switch e.Type {
	case "dir":
		mode, _ := e.mode(0o755)
		return l.put(e.Path, dirItem(mode, e.UID, e.GID), true)
	case "symlink":
		return l.put(e.Path, &item{hdr: tar.Header{
			Typeflag: tar.TypeSymlink, Linkname: e.Target, Mode: 0o777, Uid: e.UID, Gid: e.GID,
		}}, true)
	case "tree":
		return l.addTree(e)
	default:
		return l.addFile(e)
	}
}

func dirItem(mode int64, uid, gid int) *item {
	return &item{hdr: tar.Header{Typeflag: tar.TypeDir, Mode: mode, Uid: uid, Gid: gid}}
}

func (l *layerItems) addFile(e Entry) error {
	if e.Content != nil {
		mode, _ := e.mode(0o644)
		content := []byte(*e.Content)
		return l.put(e.Path, &item{
			hdr:     tar.Header{Typeflag: tar.TypeReg, Mode: mode, Size: int64(len(content)), Uid: e.UID, Gid: e.GID},
			content: content,
		}, true)
	}
	info, err := os.Stat(e.Source) // follows symlinks: a file's bytes, whatever links lead to it
	if err != nil {
		return err
	}
	if !info.Mode().IsRegular() {
		return fmt.Errorf("%s: %s is not a regular file", e.Path, e.Source)
	}
	mode, _ := e.mode(normalMode(info.Mode()))
	return l.put(e.Path, &item{
		hdr:    tar.Header{Typeflag: tar.TypeReg, Mode: mode, Size: info.Size(), Uid: e.UID, Gid: e.GID},
		source: e.Source,
	}, true)
}

// normalMode is 0755 for executables and 0644 for other files: the same whatever the umask of the checkout.
func normalMode(m fs.FileMode) int64 {
	if m&0o111 != 0 {
		return 0o755
	}
	return 0o644
}

// addTree copies the directory e.Source to e.Path: directories 0755, files 0644 or 0755, symlinks as they are.
func (l *layerItems) addTree(e Entry) error {
	mode, _ := e.mode(0o755)
	if err := l.put(e.Path, dirItem(mode, e.UID, e.GID), true); err != nil {
		return err
	}
	return filepath.WalkDir(e.Source, func(p string, d fs.DirEntry, err error) error {
		if err != nil || p == e.Source {
			return err
		}
		rel, err := filepath.Rel(e.Source, p)
		if err != nil {
			return err
		}
		return l.addTreeEntry(path.Join(e.Path, filepath.ToSlash(rel)), p, d, e)
	})
}

func (l *layerItems) addTreeEntry(dest, src string, d fs.DirEntry, e Entry) error {
	switch {
	case d.IsDir():
		return l.put(dest, dirItem(0o755, e.UID, e.GID), true)
	case d.Type()&fs.ModeSymlink != 0:
		target, err := os.Readlink(src)
		if err != nil {
			return err
		}
		return l.put(dest, &item{hdr: tar.Header{
			Typeflag: tar.TypeSymlink, Linkname: target, Mode: 0o777, Uid: e.UID, Gid: e.GID,
		}}, true)
	case d.Type().IsRegular():
		info, err := d.Info()
		if err != nil {
			return err
		}
		return l.put(dest, &item{
			hdr:    tar.Header{Typeflag: tar.TypeReg, Mode: normalMode(info.Mode()), Size: info.Size(), Uid: e.UID, Gid: e.GID},
			source: src,
		}, true)
	default:
		return fmt.Errorf("%s: %s is neither a file, a directory nor a symlink", e.Path, src)
	}
}

// writeTar writes the layer as an uncompressed tar, entries sorted by path (parents first).
func (l *layerItems) writeTar(w io.Writer) error {
	paths := make([]string, 0, len(l.items))
	for p := range l.items {
		paths = append(paths, p)
	}
	sort.Strings(paths)
	tw := tar.NewWriter(w)
	for _, p := range paths {
		if err := writeItem(tw, l.items[p]); err != nil {
			return fmt.Errorf("%s: %w", p, err)
		}
	}
	return tw.Close()
}

func writeItem(tw *tar.Writer, it *item) error {
	hdr := it.hdr
	if err := tw.WriteHeader(&hdr); err != nil {
		return err
	}
	if hdr.Typeflag != tar.TypeReg {
		return nil
	}
	if it.source == "" {
		_, err := tw.Write(it.content)
		return err
	}
	f, err := os.Open(it.source)
	if err != nil {
		return err
	}
	defer f.Close()
	n, err := io.Copy(tw, f)
	if err == nil && n != hdr.Size {
		err = fmt.Errorf("%s changed size while the layer was written", it.source)
	}
	return err
}

// writeLayerFile writes the entries as a tar file under dir and returns its path.
func writeLayerFile(dir string, entries []Entry, modTime time.Time) (string, error) {
	items := newLayerItems(modTime)
	for _, e := range entries {
		if err := items.add(e); err != nil {
			return "", err
		}
	}
	f, err := os.CreateTemp(dir, "layer-*.tar")
	if err != nil {
		return "", err
	}
	defer f.Close()
	if err := items.writeTar(f); err != nil {
		return "", err
	}
	return f.Name(), f.Close()
}
