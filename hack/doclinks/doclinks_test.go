package doclinks

import (
	"bufio"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"unicode"
)

// root is the repository's root, seen from this package's directory, where go test runs.
const root = "../.."

var (
	// inlineLink matches a Markdown link or image, [text](target) or [text](target "title"), and
	// captures the target.
	inlineLink = regexp.MustCompile(`\]\(([^()\s]+)(?:\s+"[^"]*")?\)`)
	// codeSpan matches inline code, which may hold text that looks like a link.
	codeSpan = regexp.MustCompile("`[^`]*`")
	// heading matches an ATX heading and captures its text.
	heading = regexp.MustCompile(`^#{1,6}\s+(.*?)\s*#*\s*$`)
	// linkText matches a link inside a heading, whose anchor holds only the link's text.
	linkText = regexp.MustCompile(`\[([^\]]*)\]\([^)]*\)`)
	// scheme matches a target that leaves the repository (https:, mailto:, ...).
	scheme = regexp.MustCompile(`^[a-zA-Z][a-zA-Z0-9+.-]*:`)
)

// TestRelativeLinks fails on every relative link in the repository's Markdown files (README.md,
// docs/*.md and the few others) whose file does not exist, and every #anchor that no heading of its
// page makes, as GitHub renders them.
func TestRelativeLinks(t *testing.T) {
	var pages []string
	err := filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() && path != root && (strings.HasPrefix(d.Name(), ".") || d.Name() == "bin") {
			return filepath.SkipDir // .git, and what make builds
		}
		if !d.IsDir() && strings.HasSuffix(path, ".md") {
			pages = append(pages, path)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(pages) < 2 {
		t.Fatalf("found %d Markdown files under %s, expected README.md and docs/", len(pages), root)
	}
	anchors := map[string]map[string]bool{} // page -> its anchors, read once
	for _, page := range pages {
		lines, err := readLines(page)
		if err != nil {
			t.Fatal(err)
		}
		name, _ := filepath.Rel(root, page)
		for n, line := range proseLines(lines) {
			if line == "" {
				continue
			}
			for _, m := range inlineLink.FindAllStringSubmatch(codeSpan.ReplaceAllString(line, ""), -1) {
				target := m[1]
				if scheme.MatchString(target) {
					continue
				}
				path, fragment, _ := strings.Cut(target, "#")
				file := page
				if path != "" {
					file = filepath.Join(filepath.Dir(page), path)
					if _, err := os.Stat(file); err != nil {
						t.Errorf("%s:%d: link %q: no such file or directory %s", name, n+1, target, path)
						continue
					}
				}
				if fragment == "" {
					continue
				}
				if !strings.HasSuffix(file, ".md") {
					t.Errorf("%s:%d: link %q: an anchor on a file that is not Markdown cannot be checked", name, n+1, target)
					continue
				}
				if anchors[file] == nil {
					targetLines, err := readLines(file)
					if err != nil {
						t.Fatal(err)
					}
					anchors[file] = headingAnchors(targetLines)
				}
				if !anchors[file][fragment] {
					t.Errorf("%s:%d: link %q: no heading of %s has the anchor #%s", name, n+1, target, filepath.Base(file), fragment)
				}
			}
		}
	}
}

// proseLines returns the lines with those of fenced code blocks blanked, so that the line numbers
// stay those of the file.
func proseLines(lines []string) []string {
	out := make([]string, len(lines))
	fence := ""
	for i, line := range lines {
		trimmed := strings.TrimSpace(line)
		switch {
		case fence != "":
			if strings.HasPrefix(trimmed, fence) {
				fence = ""
			}
		case strings.HasPrefix(trimmed, "```"):
			fence = "```"
		case strings.HasPrefix(trimmed, "~~~"):
			fence = "~~~"
		default:
			out[i] = line
		}
	}
	return out
}

// headingAnchors returns the anchors GitHub gives a page's headings: the heading's text in lower
// case, without punctuation, spaces turned into hyphens, and -1, -2, ... appended to repeats.
func headingAnchors(lines []string) map[string]bool {
	anchors := map[string]bool{}
	seen := map[string]int{}
	for _, line := range proseLines(lines) {
		m := heading.FindStringSubmatch(line)
		if m == nil {
			continue
		}
		text := linkText.ReplaceAllString(m[1], "$1")
		var b strings.Builder
		for _, r := range strings.ToLower(text) {
			switch {
			case r == ' ':
				b.WriteRune('-')
			case r == '-' || r == '_' || unicode.IsLetter(r) || unicode.IsDigit(r):
				b.WriteRune(r)
			}
		}
		anchor := b.String()
		if n := seen[anchor]; n > 0 {
			anchors[anchor+"-"+strconv.Itoa(n)] = true
		} else {
			anchors[anchor] = true
		}
		seen[anchor]++
	}
	return anchors
}

func readLines(path string) ([]string, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var lines []string
	s := bufio.NewScanner(f)
	s.Buffer(make([]byte, 0, 64*1024), 1024*1024)
	for s.Scan() {
		lines = append(lines, s.Text())
	}
	return lines, s.Err()
}
