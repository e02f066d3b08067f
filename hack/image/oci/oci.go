// Package oci builds container images from files, without a container engine, and writes them as
// archives that both `docker load` and `ctr images import` read: an OCI image layout with Docker's
// manifest.json beside it, as `docker save` writes them since Docker 25. `make image` builds
// innkeeper's image with it, and the real-node suite (test/realnode) the images its nodes run.
package oci

import (
	"archive/tar"
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path"
	"runtime"
	"sort"
	"strings"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
	"github.com/google/go-containerregistry/pkg/v1/types"
)

// File is one file or directory of an image's filesystem.
type File struct {
	// Path is the file's absolute path in the image, such as /etc/passwd.
	Path string
	// Mode holds the permission bits (and setuid, setgid, sticky); 0644 for a file, 0755 for a
	// directory when zero.
	Mode int64
	// Dir says that the entry is a directory; Data is then ignored.
	Dir bool
	// Link, if not empty, makes the entry a symbolic link to it; Data is then ignored.
	Link string
	// Data is a file's content.
	Data []byte
}

// Image is an image of one layer.
type Image struct {
	// Files are the layer's files. Their parent directories are added (0755) where not listed.
	Files []File
	// Entrypoint, Cmd, User, WorkingDir, Env and Labels are the image's run configuration.
	Entrypoint []string
	Cmd        []string
	User       string
	WorkingDir string
	Env        []string
	Labels     map[string]string
	// Arch is the image's architecture; runtime.GOARCH when empty. The OS is linux.
	Arch string
}

// epoch is the time of every file and of the image itself: the same files make the same image,
// byte for byte, whenever they are built.
var epoch = time.Unix(0, 0).UTC()

// Build returns the image: its layer, the OCI media types, and its configuration.
func (im Image) Build() (v1.Image, error) {
	layerTar, err := im.layer()
	if err != nil {
		return nil, err
	}
	layer, err := tarball.LayerFromOpener(func() (io.ReadCloser, error) {
		return io.NopCloser(bytes.NewReader(layerTar)), nil
	}, tarball.WithMediaType(types.OCILayer))
	if err != nil {
		return nil, fmt.Errorf("build the layer: %w", err)
	}
	img := mutate.MediaType(empty.Image, types.OCIManifestSchema1)
	img = mutate.ConfigMediaType(img, types.OCIConfigJSON)
	if img, err = mutate.Append(img, mutate.Addendum{Layer: layer, History: v1.History{
		Created: v1.Time{Time: epoch}, CreatedBy: "innkeeper hack/image/oci", Comment: "files",
	}}); err != nil {
		return nil, fmt.Errorf("add the layer: %w", err)
	}
	cfg, err := img.ConfigFile()
	if err != nil {
		return nil, err
	}
	cfg = cfg.DeepCopy()
	cfg.OS, cfg.Architecture = "linux", im.Arch
	if cfg.Architecture == "" {
		cfg.Architecture = runtime.GOARCH
	}
	cfg.Created = v1.Time{Time: epoch}
	cfg.Config = v1.Config{
		Entrypoint: im.Entrypoint, Cmd: im.Cmd, User: im.User, WorkingDir: im.WorkingDir,
		Env: im.Env, Labels: im.Labels,
	}
	return mutate.ConfigFile(img, cfg)
}

// layer returns the layer's uncompressed tar: directories first where a file needs them, every
// entry owned by root, with the fixed epoch as its time.
func (im Image) layer() ([]byte, error) {
	entries := map[string]File{}
	for _, f := range im.Files {
		p := path.Clean(f.Path)
		if !path.IsAbs(p) || p == "/" {
			return nil, fmt.Errorf("file path %q is not an absolute path below /", f.Path)
		}
		f.Path = p
		entries[p] = f
		for dir := path.Dir(p); dir != "/"; dir = path.Dir(dir) {
			if _, ok := entries[dir]; !ok {
				entries[dir] = File{Path: dir, Dir: true}
			}
		}
	}
	paths := make([]string, 0, len(entries))
	for p := range entries {
		paths = append(paths, p)
	}
	sort.Strings(paths) // a parent sorts before its children
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for _, p := range paths {
		f := entries[p]
		h := &tar.Header{Name: strings.TrimPrefix(p, "/"), Mode: f.Mode, ModTime: epoch, Format: tar.FormatPAX}
		switch {
		case f.Dir:
			h.Typeflag, h.Name = tar.TypeDir, h.Name+"/"
			if h.Mode == 0 {
				h.Mode = 0o755
			}
		case f.Link != "":
			h.Typeflag, h.Linkname, h.Mode = tar.TypeSymlink, f.Link, 0o777
		default:
			h.Typeflag, h.Size = tar.TypeReg, int64(len(f.Data))
			if h.Mode == 0 {
				h.Mode = 0o644
			}
		}
		if err := tw.WriteHeader(h); err != nil {
			return nil, err
		}
		if h.Typeflag == tar.TypeReg {
			if _, err := tw.Write(f.Data); err != nil {
				return nil, err
			}
		}
	}
	if err := tw.Close(); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

// WriteArchive writes img, tagged ref, to path as an archive that `docker load` and
// `ctr images import` read (see WriteArchiveTo).
func WriteArchive(filePath, ref string, img v1.Image) (err error) {
	f, err := os.Create(filePath)
	if err != nil {
		return err
	}
	defer func() {
		if cerr := f.Close(); err == nil {
			err = cerr
		}
	}()
	return WriteArchiveTo(f, ref, img)
}

// WriteArchiveTo writes img, tagged ref (a full reference such as
// ghcr.io/innkeeper-dev/innkeeper:v0.1.0), as one tar: an OCI image layout (oci-layout,
// index.json naming the image by its reference, blobs/sha256/) and Docker's manifest.json, which
// points at the same blobs.
func WriteArchiveTo(w io.Writer, ref string, img v1.Image) error {
	tag, err := name.NewTag(ref, name.StrictValidation)
	if err != nil {
		return fmt.Errorf("image reference %q: %w", ref, err)
	}
	manifest, err := img.RawManifest()
	if err != nil {
		return err
	}
	manifestDigest, err := img.Digest()
	if err != nil {
		return err
	}
	config, err := img.RawConfigFile()
	if err != nil {
		return err
	}
	configName, err := img.ConfigName()
	if err != nil {
		return err
	}
	layers, err := img.Layers()
	if err != nil {
		return err
	}

	tw := tar.NewWriter(w)
	put := func(member string, data []byte) error {
		if err := tw.WriteHeader(&tar.Header{Name: member, Mode: 0o644, Size: int64(len(data)), ModTime: epoch,
			Typeflag: tar.TypeReg, Format: tar.FormatPAX}); err != nil {
			return err
		}
		_, err := tw.Write(data)
		return err
	}
	blob := func(h v1.Hash) string { return "blobs/" + h.Algorithm + "/" + h.Hex }
	if err := tw.WriteHeader(&tar.Header{Name: "blobs/sha256/", Mode: 0o755, ModTime: epoch,
		Typeflag: tar.TypeDir, Format: tar.FormatPAX}); err != nil {
		return err
	}
	var layerPaths []string
	for _, l := range layers {
		digest, err := l.Digest()
		if err != nil {
			return err
		}
		rc, err := l.Compressed()
		if err != nil {
			return err
		}
		data, err := io.ReadAll(rc)
		_ = rc.Close()
		if err != nil {
			return err
		}
		if err := put(blob(digest), data); err != nil {
			return err
		}
		layerPaths = append(layerPaths, blob(digest))
	}
	if err := put(blob(configName), config); err != nil {
		return err
	}
	if err := put(blob(manifestDigest), manifest); err != nil {
		return err
	}
	index, err := json.Marshal(map[string]any{
		"schemaVersion": 2,
		"mediaType":     types.OCIImageIndex,
		"manifests": []map[string]any{{
			"mediaType": types.OCIManifestSchema1,
			"digest":    manifestDigest.String(),
			"size":      len(manifest),
			"annotations": map[string]string{
				// containerd (ctr images import) and Docker name the image by this one.
				"io.containerd.image.name":          tag.Name(),
				"org.opencontainers.image.ref.name": tag.TagStr(),
			},
		}},
	})
	if err != nil {
		return err
	}
	dockerManifest, err := json.Marshal([]map[string]any{{
		"Config": blob(configName), "RepoTags": []string{tag.Name()}, "Layers": layerPaths,
	}})
	if err != nil {
		return err
	}
	for _, f := range []struct {
		name string
		data []byte
	}{
		{"oci-layout", []byte(`{"imageLayoutVersion":"1.0.0"}`)},
		{"index.json", index},
		{"manifest.json", dockerManifest},
	} {
		if err := put(f.name, f.data); err != nil {
			return err
		}
	}
	return tw.Close()
}
