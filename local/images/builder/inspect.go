package main

import (
	"archive/tar"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
)

type fileInfo struct {
	Path     string `json:"path"`
	Type     string `json:"type"`
	Mode     string `json:"mode"`
	UID      int    `json:"uid"`
	GID      int    `json:"gid"`
	Size     int64  `json:"size,omitempty"`
	Linkname string `json:"linkname,omitempty"`
}

type layerInfo struct {
	Digest string     `json:"digest"`
	DiffID string     `json:"diffID"`
	Size   int64      `json:"size"`
	Files  []fileInfo `json:"files"`
}

type report struct {
	Tags   []string       `json:"tags"`
	Digest string         `json:"digest"`
	Config *v1.ConfigFile `json:"config"`
	Layers []layerInfo    `json:"layers"`
}

// inspect prints the archive's tags, image config and the files of each layer.
func inspect(archive string, out io.Writer) error {
	manifest, err := tarball.LoadManifest(func() (io.ReadCloser, error) { return os.Open(archive) })
	if err != nil {
		return err
	}
	if len(manifest) != 1 {
		return fmt.Errorf("%s holds %d images, expected 1", archive, len(manifest))
	}
	img, err := tarball.ImageFromPath(archive, nil)
	if err != nil {
		return err
	}
	r := report{Tags: manifest[0].RepoTags}
	if r.Config, err = img.ConfigFile(); err != nil {
		return err
	}
	digest, err := img.Digest()
	if err != nil {
		return err
	}
	r.Digest = digest.String()
	if r.Layers, err = describeLayers(img); err != nil {
		return err
	}
	enc := json.NewEncoder(out)
	enc.SetIndent("", "  ")
	return enc.Encode(r)
}

func describeLayers(img v1.Image) ([]layerInfo, error) {
	layers, err := img.Layers()
	if err != nil {
		return nil, err
	}
	infos := make([]layerInfo, 0, len(layers))
	for _, l := range layers {
		info, err := describeLayer(l)
		if err != nil {
			return nil, err
		}
		infos = append(infos, info)
	}
	return infos, nil
}

func describeLayer(l v1.Layer) (layerInfo, error) {
	var info layerInfo
	digest, err := l.Digest()
	if err != nil {
		return info, err
	}
	diffID, err := l.DiffID()
	if err != nil {
		return info, err
	}
	if info.Size, err = l.Size(); err != nil {
		return info, err
	}
	info.Digest, info.DiffID = digest.String(), diffID.String()
	rc, err := l.Uncompressed()
	if err != nil {
		return info, err
	}
	defer rc.Close()
	info.Files, err = listTar(rc)
	return info, err
}

func listTar(r io.Reader) ([]fileInfo, error) {
	files := []fileInfo{}
	tr := tar.NewReader(r)
	for {
		hdr, err := tr.Next()
		if errors.Is(err, io.EOF) {
			return files, nil
		}
		if err != nil {
			return nil, err
		}
		files = append(files, fileInfo{
			Path: hdr.Name, Type: typeName(hdr.Typeflag), Mode: fmt.Sprintf("%04o", hdr.Mode),
			UID: hdr.Uid, GID: hdr.Gid, Size: hdr.Size, Linkname: hdr.Linkname,
		})
	}
}

func typeName(t byte) string {
	switch t {
	case tar.TypeReg:
		return "file"
	case tar.TypeDir:
		return "dir"
	case tar.TypeSymlink:
		return "symlink"
	case tar.TypeLink:
		return "hardlink"
	default:
		return fmt.Sprintf("type-%c", t)
	}
}

// extract unpacks the image's flattened filesystem into dir, keeping modes (files end up owned by the caller).
func extract(archive, dir string) error {
	img, err := tarball.ImageFromPath(archive, nil)
	if err != nil {
		return err
	}
	rc := mutate.Extract(img)
	defer rc.Close()
	tr := tar.NewReader(rc)
	var dirs []*tar.Header
	for {
		hdr, err := tr.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return err
		}
		if hdr.Typeflag == tar.TypeDir {
			dirs = append(dirs, hdr)
		}
		if err := extractEntry(dir, hdr, tr); err != nil {
			return fmt.Errorf("%s: %w", hdr.Name, err)
		}
	}
	// Directory modes last, so a read-only directory does not stop its own files from being written.
	for _, hdr := range dirs {
		if err := os.Chmod(filepath.Join(dir, hdr.Name), tarMode(hdr)); err != nil {
			return err
		}
	}
	return nil
}

func tarMode(hdr *tar.Header) os.FileMode {
	mode := os.FileMode(hdr.Mode & 0o777)
	if hdr.Mode&0o1000 != 0 {
		mode |= os.ModeSticky
	}
	return mode
}

func extractEntry(dir string, hdr *tar.Header, r io.Reader) error {
	if !filepath.IsLocal(hdr.Name) {
		return fmt.Errorf("path leaves the target folder")
	}
	target := filepath.Join(dir, hdr.Name)
	if err := os.MkdirAll(filepath.Dir(target), 0o755); err != nil {
		return err
	}
	switch hdr.Typeflag {
	case tar.TypeDir:
		return os.MkdirAll(target, 0o755)
	case tar.TypeSymlink:
		return os.Symlink(hdr.Linkname, target)
	case tar.TypeReg:
		return writeFile(target, hdr, r)
	default:
		return fmt.Errorf("unsupported entry type %c", hdr.Typeflag)
	}
}

func writeFile(target string, hdr *tar.Header, r io.Reader) error {
	f, err := os.OpenFile(target, os.O_CREATE|os.O_EXCL|os.O_WRONLY, tarMode(hdr))
	if err != nil {
		return err
	}
	if _, err := io.Copy(f, r); err != nil {
		f.Close()
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	return os.Chmod(target, tarMode(hdr))
}
