// Command image builds innkeeper's container image without a container engine (make image): the
// image the Dockerfile describes, from a binary built for linux, written as an archive that
// `docker load` and `ctr images import` read.
//
//	go run ./hack/image --binary=bin/image/innkeeper --image=ghcr.io/innkeeper-dev/innkeeper:v0.1.0 --out=bin/innkeeper-image.tar
package main

import (
	"flag"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"

	"github.com/innkeeper-dev/innkeeper/hack/image/oci"
)

// The run configuration of the image, as the Dockerfile's final stage gives it (main_test.go
// checks that they agree).
const (
	binaryPath = "/innkeeper"
	user       = "65532:65532"
	workingDir = "/"
)

// rootfsDir holds the image's files besides the binary, relative to the repository's root: what
// the Dockerfile copies to /.
const rootfsDir = "hack/image/rootfs"

func main() {
	binary := flag.String("binary", "", "The innkeeper binary, built for linux (CGO_ENABLED=0).")
	image := flag.String("image", "", "The image's reference, such as ghcr.io/innkeeper-dev/innkeeper:v0.1.0.")
	out := flag.String("out", "", "The archive to write.")
	arch := flag.String("arch", "amd64", "The binary's architecture.")
	root := flag.String("root", ".", "The repository's root.")
	flag.Parse()
	if *binary == "" || *image == "" || *out == "" {
		fmt.Fprintln(os.Stderr, "image: --binary, --image and --out are required")
		os.Exit(2)
	}
	if err := run(*binary, *image, *out, *arch, *root); err != nil {
		fmt.Fprintf(os.Stderr, "image: %v\n", err)
		os.Exit(1)
	}
}

func run(binary, ref, out, arch, root string) error {
	data, err := os.ReadFile(binary)
	if err != nil {
		return err
	}
	spec, err := innkeeperImage(data, os.DirFS(filepath.Join(root, rootfsDir)), arch)
	if err != nil {
		return err
	}
	img, err := spec.Build()
	if err != nil {
		return err
	}
	if err := oci.WriteArchive(out, ref, img); err != nil {
		return fmt.Errorf("write %s: %w", out, err)
	}
	digest, err := img.Digest()
	if err != nil {
		return err
	}
	fmt.Printf("%s %s -> %s\n", ref, digest, out)
	return nil
}

// innkeeperImage returns the image: the files of rootfs at their paths, the binary at binaryPath,
// run as the nonroot user.
func innkeeperImage(binary []byte, rootfs fs.FS, arch string) (oci.Image, error) {
	im := oci.Image{Entrypoint: []string{binaryPath}, User: user, WorkingDir: workingDir, Arch: arch}
	err := fs.WalkDir(rootfs, ".", func(p string, d fs.DirEntry, err error) error {
		if err != nil || p == "." {
			return err
		}
		info, err := d.Info()
		if err != nil {
			return err
		}
		f := oci.File{Path: "/" + p, Mode: int64(info.Mode().Perm()), Dir: d.IsDir()}
		if !d.IsDir() {
			if f.Data, err = fs.ReadFile(rootfs, p); err != nil {
				return err
			}
		}
		im.Files = append(im.Files, f)
		return nil
	})
	if err != nil {
		return oci.Image{}, fmt.Errorf("read the image's files: %w", err)
	}
	im.Files = append(im.Files, oci.File{Path: binaryPath, Mode: 0o755, Data: binary})
	return im, nil
}
