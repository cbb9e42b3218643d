package optim

import (
	"go/ast"
	"go/parser"
	"go/token"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"unicode"
)

// docsPages are the Markdown files whose links are checked.
func docsPages(t *testing.T) []string {
	pages, err := filepath.Glob(filepath.Join("docs", "*.md"))
	if err != nil {
		t.Fatal(err)
	}
	return append([]string{"README.md"}, pages...)
}

// markdownLink matches an inline link or image target, [text](target), and
// a reference definition, [label]: target.
var markdownLink = regexp.MustCompile(`\]\(([^)\s]+)\)|^\[[^\]]+\]:\s+(\S+)`)

// links returns the link targets of a Markdown file, outside code blocks.
func links(text string) []string {
	var out []string
	fenced := false
	for _, line := range strings.Split(text, "\n") {
		if strings.HasPrefix(line, "```") {
			fenced = !fenced
			continue
		}
		if fenced {
			continue
		}
		for _, m := range markdownLink.FindAllStringSubmatch(line, -1) {
			out = append(out, m[1]+m[2])
		}
	}
	return out
}

// headingAnchors returns the anchors GitHub gives a Markdown file's
// headings: lower case, spaces turned into hyphens, punctuation dropped.
func headingAnchors(text string) map[string]bool {
	anchors := map[string]bool{}
	fenced := false
	for _, line := range strings.Split(text, "\n") {
		if strings.HasPrefix(line, "```") {
			fenced = !fenced
		}
		if fenced || !strings.HasPrefix(line, "#") {
			continue
		}
		title := strings.TrimSpace(strings.TrimLeft(line, "#"))
		var b strings.Builder
		for _, r := range strings.ToLower(title) {
			switch {
			case r == ' ':
				b.WriteRune('-')
			case r == '-' || r == '_' || unicode.IsLetter(r) || unicode.IsDigit(r):
				b.WriteRune(r)
			}
		}
		anchors[b.String()] = true
	}
	return anchors
}

// exportedNames returns the exported identifiers of the package in dir:
// functions, types, constants and variables by name, methods as
// Type.Method.
func exportedNames(t *testing.T, dir string) map[string]bool {
	if names, ok := exportedNamesOf[dir]; ok {
		return names // parsing a package for each link was most of the test's time
	}
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	names := map[string]bool{}
	fset := token.NewFileSet()
	for _, e := range entries {
		if !strings.HasSuffix(e.Name(), ".go") || strings.HasSuffix(e.Name(), "_test.go") {
			continue
		}
		f, err := parser.ParseFile(fset, filepath.Join(dir, e.Name()), nil, parser.SkipObjectResolution)
		if err != nil {
			t.Fatal(err)
		}
		for _, d := range f.Decls {
			switch d := d.(type) {
			case *ast.FuncDecl:
				name := d.Name.Name
				if d.Recv != nil && len(d.Recv.List) == 1 {
					recv := d.Recv.List[0].Type
					if star, ok := recv.(*ast.StarExpr); ok {
						recv = star.X
					}
					if index, ok := recv.(*ast.IndexExpr); ok {
						recv = index.X
					}
					if index, ok := recv.(*ast.IndexListExpr); ok {
						recv = index.X
					}
					if id, ok := recv.(*ast.Ident); ok {
						name = id.Name + "." + name
					}
				}
				names[name] = true
			case *ast.GenDecl:
				for _, s := range d.Specs {
					switch s := s.(type) {
					case *ast.TypeSpec:
						names[s.Name.Name] = true
					case *ast.ValueSpec:
						for _, n := range s.Names {
							names[n.Name] = true
						}
					}
				}
			}
		}
	}
	exportedNamesOf[dir] = names
	return names
}

// exportedNamesOf caches exportedNames by folder; the docs tests do not run
// in parallel.
var exportedNamesOf = map[string]map[string]bool{}

// TestDocsLinksResolve: every relative link of the README and of docs/
// names a file of the repository, and a heading of it where it has an
// anchor; every pkg.go.dev link into this module names one of its packages
// and, where it has an anchor, an exported identifier of that package.
// The README's links are its table of contents and its feature list, so a
// page, heading or identifier renamed or moved must take them along.
func TestDocsLinksResolve(t *testing.T) {
	const godoc = "https://pkg.go.dev/github.com/simdoptim/optim"
	checked := 0
	for _, page := range docsPages(t) {
		text, err := os.ReadFile(page)
		if err != nil {
			t.Fatal(err)
		}
		for _, target := range links(string(text)) {
			path, anchor, _ := strings.Cut(target, "#")
			switch {
			case strings.HasPrefix(target, godoc):
				importPath := strings.TrimPrefix(path, "https://pkg.go.dev/")
				pkg := strings.TrimPrefix(strings.TrimPrefix(path, godoc), "/")
				dir := filepath.FromSlash(pkg)
				if pkg == "" {
					dir = "."
				}
				if _, err := os.Stat(dir); err != nil {
					t.Errorf("%s: %s: no package %s in this module", page, target, importPath)
					continue
				}
				if anchor != "" && !exportedNames(t, dir)[anchor] {
					t.Errorf("%s: %s: package %s has no exported %s", page, target, importPath, anchor)
				}
			case strings.Contains(target, "://"), strings.HasPrefix(target, "mailto:"):
				continue // outside the repository
			default:
				file := page
				if path != "" {
					file = filepath.Join(filepath.Dir(page), filepath.FromSlash(path))
				}
				info, err := os.Stat(file)
				if err != nil {
					t.Errorf("%s: %s: %v", page, target, err)
					continue
				}
				if anchor != "" && !info.IsDir() && strings.HasSuffix(file, ".md") {
					linked, err := os.ReadFile(file)
					if err != nil {
						t.Fatal(err)
					}
					if !headingAnchors(string(linked))[anchor] {
						t.Errorf("%s: %s: %s has no heading with the anchor #%s", page, target, file, anchor)
					}
				}
			}
			checked++
		}
	}
	if checked < 20 {
		t.Errorf("checked only %d links: is the link pattern still right?", checked)
	}
}

// TestAddGroupDocsAgree: AddGroup's documentation and the guide say the
// same of a new group's steps (TestAddGroupStartsFresh checks it): its step
// counts start at 0, so its first step is step 1. They once said "step 0"
// and "step 1", which read as a contradiction.
func TestAddGroupDocsAgree(t *testing.T) {
	f, err := parser.ParseFile(token.NewFileSet(), "optim.go", nil, parser.ParseComments|parser.SkipObjectResolution)
	if err != nil {
		t.Fatal(err)
	}
	var godoc string
	for _, d := range f.Decls {
		if fn, ok := d.(*ast.FuncDecl); ok && fn.Name.Name == "AddGroup" {
			godoc = fn.Doc.Text()
		}
	}
	guide, err := os.ReadFile(filepath.Join("docs", "guide.md"))
	if err != nil {
		t.Fatal(err)
	}
	flat := func(s string) string { return strings.Join(strings.Fields(s), " ") }
	for _, want := range []string{"step counts start at 0", "first step is step 1"} {
		if !strings.Contains(flat(godoc), want) || !strings.Contains(flat(string(guide)), want) {
			t.Errorf("AddGroup's godoc and docs/guide.md should both say %q", want)
		}
	}
}
