package main

import (
	"archive/tar"
	"bufio"
	"encoding/json"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	. "github.com/onsi/gomega"

	"github.com/google/go-containerregistry/pkg/v1/layout"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
)

// The Dockerfile's final stage and `make image` describe the same image: the same files at the
// same paths, the same user, working directory and entrypoint.
func TestDockerfileDescribesTheImage(t *testing.T) {
	g := NewWithT(t)
	stage := finalStage(t, filepath.Join("..", "..", "Dockerfile"))
	g.Expect(stage).To(Equal([]string{
		"FROM scratch",
		"COPY " + rootfsDir + "/ /",
		"COPY --from=builder /workspace/innkeeper " + binaryPath,
		"USER " + user,
		"WORKDIR " + workingDir,
		`ENTRYPOINT ["` + binaryPath + `"]`,
	}), "change hack/image/main.go with the Dockerfile, and this test with both")

	// Only the rootfs directory and the binary: the build context must hold the rootfs.
	ignore, err := os.ReadFile(filepath.Join("..", "..", ".dockerignore"))
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(string(ignore)).To(ContainSubstring("!" + rootfsDir + "/"))
}

// finalStage returns the instructions of the Dockerfile's last stage, comments and blank lines left
// out.
func finalStage(t *testing.T, path string) []string {
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = f.Close() }()
	var stage []string
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		if strings.HasPrefix(line, "FROM ") {
			stage = nil
		}
		stage = append(stage, line)
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return stage
}

func TestImageArchive(t *testing.T) {
	g := NewWithT(t)
	dir := t.TempDir()
	binary := filepath.Join(dir, "innkeeper")
	g.Expect(os.WriteFile(binary, []byte("\x7fELF not really"), 0o755)).To(Succeed())
	archive := filepath.Join(dir, "image.tar")
	const ref = "ghcr.io/innkeeper-dev/innkeeper:v0.1.0"
	g.Expect(run(binary, ref, archive, "amd64", filepath.Join("..", ".."))).To(Succeed())

	// Docker's view: manifest.json.
	img, err := tarball.ImageFromPath(archive, nil)
	g.Expect(err).NotTo(HaveOccurred())
	cfg, err := img.ConfigFile()
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(cfg.OS).To(Equal("linux"))
	g.Expect(cfg.Architecture).To(Equal("amd64"))
	g.Expect(cfg.Config.User).To(Equal("65532:65532"))
	g.Expect(cfg.Config.Entrypoint).To(Equal([]string{"/innkeeper"}))
	g.Expect(cfg.Config.WorkingDir).To(Equal("/"))
	layers, err := img.Layers()
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(layers).To(HaveLen(1))
	rc, err := layers[0].Uncompressed()
	g.Expect(err).NotTo(HaveOccurred())
	files := map[string]*tar.Header{}
	tr := tar.NewReader(rc)
	for {
		h, err := tr.Next()
		if err == io.EOF {
			break
		}
		g.Expect(err).NotTo(HaveOccurred())
		files[h.Name] = h
		if h.Name == "etc/passwd" {
			data, _ := io.ReadAll(tr)
			g.Expect(string(data)).To(ContainSubstring("nonroot:x:65532:65532:"))
		}
	}
	_ = rc.Close()
	names := make([]string, 0, len(files))
	for n := range files {
		names = append(names, n)
	}
	sort.Strings(names)
	g.Expect(names).To(Equal([]string{"etc/", "etc/group", "etc/passwd", "innkeeper"}))
	g.Expect(files["innkeeper"].Mode).To(Equal(int64(0o755)))
	g.Expect(files["innkeeper"].Uid).To(Equal(0))

	// containerd's view: the OCI layout, whose index names the same image by its reference.
	extracted := filepath.Join(dir, "layout")
	extract(t, archive, extracted)
	index, err := layout.ImageIndexFromPath(extracted)
	g.Expect(err).NotTo(HaveOccurred())
	manifest, err := index.IndexManifest()
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(manifest.Manifests).To(HaveLen(1))
	g.Expect(manifest.Manifests[0].Annotations).To(HaveKeyWithValue("io.containerd.image.name", ref))
	ociImage, err := index.Image(manifest.Manifests[0].Digest)
	g.Expect(err).NotTo(HaveOccurred())
	// Both views are the same image: the same configuration and the same layer.
	for _, pair := range [][2]func() (any, error){
		{func() (any, error) { return img.ConfigName() }, func() (any, error) { return ociImage.ConfigName() }},
		{func() (any, error) { return layers[0].Digest() }, func() (any, error) {
			l, err := ociImage.Layers()
			if err != nil {
				return nil, err
			}
			return l[0].Digest()
		}},
	} {
		docker, err := pair[0]()
		g.Expect(err).NotTo(HaveOccurred())
		oci, err := pair[1]()
		g.Expect(err).NotTo(HaveOccurred())
		g.Expect(oci).To(Equal(docker))
	}

	// The same binary makes the same image, byte for byte.
	again := filepath.Join(dir, "again.tar")
	g.Expect(run(binary, ref, again, "amd64", filepath.Join("..", ".."))).To(Succeed())
	a, _ := os.ReadFile(archive)
	b, _ := os.ReadFile(again)
	g.Expect(a).To(Equal(b))
	var dockerManifest []map[string]any
	g.Expect(json.Unmarshal(readMember(t, archive, "manifest.json"), &dockerManifest)).To(Succeed())
	g.Expect(dockerManifest[0]["RepoTags"]).To(Equal([]any{ref}))
}

func extract(t *testing.T, archive, dir string) {
	f, err := os.Open(archive)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = f.Close() }()
	tr := tar.NewReader(f)
	for {
		h, err := tr.Next()
		if err == io.EOF {
			return
		}
		if err != nil {
			t.Fatal(err)
		}
		p := filepath.Join(dir, filepath.FromSlash(h.Name))
		if h.Typeflag == tar.TypeDir {
			if err := os.MkdirAll(p, 0o755); err != nil {
				t.Fatal(err)
			}
			continue
		}
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		data, err := io.ReadAll(tr)
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, data, 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

func readMember(t *testing.T, archive, name string) []byte {
	f, err := os.Open(archive)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = f.Close() }()
	tr := tar.NewReader(f)
	for {
		h, err := tr.Next()
		if err != nil {
			t.Fatalf("%s has no %s: %v", archive, name, err)
		}
		if h.Name == name {
			data, err := io.ReadAll(tr)
			if err != nil {
				t.Fatal(err)
			}
			return data
		}
	}
}
