// helm-render: renders a Helm chart the way `helm template` does, without
// Helm (no Helm binary is available where the tests run).
//
// It uses the same libraries as Helm 3 at the time sprig 3.2.3 was current
// (Helm 3.11-3.17): text/template, github.com/Masterminds/sprig/v3,
// sigs.k8s.io/yaml (values parsing, toYaml/fromYaml) and
// github.com/xeipuuv/gojsonschema (values.schema.json), all from Debian's
// golang-*-dev packages, built offline in GOPATH mode. The engine below
// follows helm.sh/helm/v3/pkg/engine (engine.go, funcs.go) and
// pkg/chartutil (coalesce.go, values.go, jsonschema.go) step by step:
//
//   - values: the chart's values.yaml, then each -f file merged over the
//     previous ones (maps merged, later wins), then --set key=value, then
//     coalesced with the chart defaults (a user null deletes a default);
//     numbers from YAML become float64, exactly as in Helm;
//   - the coalesced values are validated against values.schema.json with
//     gojsonschema;
//   - every file under templates/ is parsed into one template set named
//     "<chart>/templates/<file>", with option missingkey=zero; files whose
//     base name starts with "_" are not rendered; "<no value>" is removed;
//   - functions: sprig's TxtFuncMap without env/expandenv, plus toYaml,
//     fromYaml, fromYamlArray, toJson, fromJson, fromJsonArray, toToml
//     (not implemented: no TOML library; it fails loudly), include (with
//     Helm's recursion limit), tpl, required, fail, and lookup returning
//     an empty map (what `helm template` and ArgoCD get);
//   - the top-level object: .Values, .Release (Name, Namespace, IsInstall,
//     IsUpgrade, Revision, Service), .Chart (Chart.yaml), .Capabilities
//     (KubeVersion, APIVersions.Has), .Files (Get, GetBytes, Lines, Glob),
//     .Template (Name, BasePath), .Subcharts.
//
// Output (stdout): one JSON object {"manifests": {path: text}, "notes":
// text, "values": coalesced values}. Errors go to stderr, exit status 1.
//
// Usage: helm-render [-f values.yaml]... [--set a.b=c]... [--name NAME]
//                    [--namespace NS] [--kube-version v1.29.0] CHART_DIR
package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"text/template"

	"github.com/Masterminds/sprig"
	"github.com/xeipuuv/gojsonschema"
	"sigs.k8s.io/yaml"
)

const recursionMaxNums = 1000

// Metadata mirrors helm.sh/helm/v3/pkg/chart.Metadata (the fields templates use).
type Metadata struct {
	Name        string            `json:"name,omitempty"`
	Home        string            `json:"home,omitempty"`
	Sources     []string          `json:"sources,omitempty"`
	Version     string            `json:"version,omitempty"`
	Description string            `json:"description,omitempty"`
	Keywords    []string          `json:"keywords,omitempty"`
	Icon        string            `json:"icon,omitempty"`
	APIVersion  string            `json:"apiVersion,omitempty"`
	Condition   string            `json:"condition,omitempty"`
	Tags        string            `json:"tags,omitempty"`
	AppVersion  string            `json:"appVersion,omitempty"`
	Deprecated  bool              `json:"deprecated,omitempty"`
	Annotations map[string]string `json:"annotations,omitempty"`
	KubeVersion string            `json:"kubeVersion,omitempty"`
	Type        string            `json:"type,omitempty"`
}

// VersionSet mirrors chartutil.VersionSet.
type VersionSet []string

func (v VersionSet) Has(apiVersion string) bool {
	for _, x := range v {
		if x == apiVersion {
			return true
		}
	}
	return false
}

type KubeVersion struct {
	Version string
	Major   string
	Minor   string
}

func (k KubeVersion) String() string    { return k.Version }
func (k KubeVersion) GitVersion() string { return k.Version }

type Capabilities struct {
	KubeVersion KubeVersion
	APIVersions VersionSet
}

// Files mirrors engine.files (the non-template files of the chart).
type Files map[string][]byte

func (f Files) GetBytes(name string) []byte { return f[name] }
func (f Files) Get(name string) string      { return string(f[name]) }
func (f Files) Lines(name string) []string {
	s := string(f[name])
	if s == "" {
		return []string{}
	}
	return strings.Split(s, "\n")
}
func (f Files) Glob(pattern string) Files {
	out := Files{}
	for name, data := range f {
		if ok, _ := filepath.Match(pattern, name); ok {
			out[name] = data
		}
	}
	return out
}

type multi []string

func (m *multi) String() string     { return strings.Join(*m, ",") }
func (m *multi) Set(s string) error { *m = append(*m, s); return nil }

func main() {
	var valueFiles, sets multi
	name := flag.String("name", "release-name", "release name")
	namespace := flag.String("namespace", "default", "release namespace")
	kube := flag.String("kube-version", "v1.29.0", "Kubernetes version (.Capabilities.KubeVersion)")
	flag.Var(&valueFiles, "f", "values file (repeatable)")
	flag.Var(&sets, "set", "key=value (repeatable)")
	flag.Parse()
	if flag.NArg() != 1 {
		fmt.Fprintln(os.Stderr, "usage: helm-render [-f FILE]... [--set K=V]... [--name N] [--namespace NS] CHART_DIR")
		os.Exit(2)
	}
	out, err := render(flag.Arg(0), *name, *namespace, *kube, valueFiles, sets)
	if err != nil {
		fmt.Fprintln(os.Stderr, "Error:", err)
		os.Exit(1)
	}
	enc := json.NewEncoder(os.Stdout)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(out); err != nil {
		fmt.Fprintln(os.Stderr, "Error:", err)
		os.Exit(1)
	}
}

func readYAMLMap(file string) (map[string]interface{}, error) {
	data, err := os.ReadFile(file)
	if err != nil {
		return nil, err
	}
	m := map[string]interface{}{}
	if err := yaml.Unmarshal(data, &m); err != nil {
		return nil, fmt.Errorf("%s: %w", file, err)
	}
	if m == nil {
		m = map[string]interface{}{}
	}
	return m, nil
}

// mergeMaps is cli/values.mergeMaps: b over a, maps merged recursively.
func mergeMaps(a, b map[string]interface{}) map[string]interface{} {
	out := make(map[string]interface{}, len(a))
	for k, v := range a {
		out[k] = v
	}
	for k, v := range b {
		if v, ok := v.(map[string]interface{}); ok {
			if bv, ok := out[k]; ok {
				if bv, ok := bv.(map[string]interface{}); ok {
					out[k] = mergeMaps(bv, v)
					continue
				}
			}
		}
		out[k] = v
	}
	return out
}

// parseSet handles the common forms of strvals: a.b.c=value with int64,
// bool, null and string values, and {a,b} lists of scalars.
func parseSet(dst map[string]interface{}, kv string) error {
	i := strings.Index(kv, "=")
	if i <= 0 {
		return fmt.Errorf("--set %q: expected key=value", kv)
	}
	keys := strings.Split(kv[:i], ".")
	raw := kv[i+1:]
	var val interface{}
	switch {
	case raw == "true":
		val = true
	case raw == "false":
		val = false
	case raw == "null":
		val = nil
	case strings.HasPrefix(raw, "{") && strings.HasSuffix(raw, "}"):
		list := []interface{}{}
		for _, s := range strings.Split(raw[1:len(raw)-1], ",") {
			list = append(list, s)
		}
		val = list
	default:
		if n, err := strconv.ParseInt(raw, 10, 64); err == nil && (raw == "0" || !strings.HasPrefix(raw, "0")) {
			val = n
		} else {
			val = raw
		}
	}
	m := dst
	for _, k := range keys[:len(keys)-1] {
		next, ok := m[k].(map[string]interface{})
		if !ok {
			next = map[string]interface{}{}
			m[k] = next
		}
		m = next
	}
	m[keys[len(keys)-1]] = val
	return nil
}

func istable(v interface{}) bool {
	_, ok := v.(map[string]interface{})
	return ok
}

// coalesceValues is chartutil.coalesceValues: chart defaults under user
// values; a user null removes the key.
func coalesceValues(defaults, v map[string]interface{}) {
	for key, val := range defaults {
		if value, ok := v[key]; ok {
			if value == nil {
				delete(v, key)
			} else if dest, ok := value.(map[string]interface{}); ok {
				if src, ok := val.(map[string]interface{}); ok {
					coalesceTablesFull(dest, src)
				}
			}
		} else {
			v[key] = val
		}
	}
}

// coalesceTablesFull is chartutil.coalesceTablesFull (merge=false).
func coalesceTablesFull(dst, src map[string]interface{}) map[string]interface{} {
	if dst == nil {
		return src
	}
	for key, val := range src {
		dv, ok := dst[key]
		if ok && dv == nil {
			delete(dst, key)
		} else if !ok {
			dst[key] = val
		} else if istable(val) {
			if istable(dv) {
				coalesceTablesFull(dv.(map[string]interface{}), val.(map[string]interface{}))
			}
		}
	}
	return dst
}

// deepCopy via JSON keeps float64 numbers as they are.
func deepCopy(m map[string]interface{}) map[string]interface{} {
	data, _ := json.Marshal(m)
	out := map[string]interface{}{}
	_ = json.Unmarshal(data, &out)
	return out
}

func validateSchema(schemaJSON []byte, values map[string]interface{}) error {
	valuesData, err := yaml.Marshal(values)
	if err != nil {
		return err
	}
	valuesJSON, err := yaml.YAMLToJSON(valuesData)
	if err != nil {
		return err
	}
	if bytes.Equal(valuesJSON, []byte("null")) {
		valuesJSON = []byte("{}")
	}
	result, err := gojsonschema.Validate(gojsonschema.NewBytesLoader(schemaJSON),
		gojsonschema.NewBytesLoader(valuesJSON))
	if err != nil {
		return err
	}
	if !result.Valid() {
		var sb strings.Builder
		for _, desc := range result.Errors() {
			sb.WriteString(fmt.Sprintf("- %s\n", desc))
		}
		return errors.New("values don't meet the specifications of the schema(s) in the following chart(s):\n" + sb.String())
	}
	return nil
}

func toYAML(v interface{}) string {
	data, err := yaml.Marshal(v)
	if err != nil {
		return ""
	}
	return strings.TrimSuffix(string(data), "\n")
}

func fromYAML(str string) map[string]interface{} {
	m := map[string]interface{}{}
	if err := yaml.Unmarshal([]byte(str), &m); err != nil {
		m["Error"] = err.Error()
	}
	return m
}

func fromYAMLArray(str string) []interface{} {
	a := []interface{}{}
	if err := yaml.Unmarshal([]byte(str), &a); err != nil {
		a = []interface{}{err.Error()}
	}
	return a
}

func toJSON(v interface{}) string {
	data, err := json.Marshal(v)
	if err != nil {
		return ""
	}
	return string(data)
}

func fromJSON(str string) map[string]interface{} {
	m := make(map[string]interface{})
	if err := json.Unmarshal([]byte(str), &m); err != nil {
		m["Error"] = err.Error()
	}
	return m
}

func fromJSONArray(str string) []interface{} {
	a := []interface{}{}
	if err := json.Unmarshal([]byte(str), &a); err != nil {
		a = []interface{}{err.Error()}
	}
	return a
}

const warnStartDelim = "HELM_ERR_START"
const warnEndDelim = "HELM_ERR_END"

func warnWrap(warn string) string { return warnStartDelim + warn + warnEndDelim }

func includeFun(t *template.Template, includedNames map[string]int) func(string, interface{}) (string, error) {
	return func(name string, data interface{}) (string, error) {
		var buf strings.Builder
		if v, ok := includedNames[name]; ok {
			if v > recursionMaxNums {
				return "", fmt.Errorf("rendering template has a nested reference name: %s: unable to execute template", name)
			}
			includedNames[name]++
		} else {
			includedNames[name] = 1
		}
		err := t.ExecuteTemplate(&buf, name, data)
		includedNames[name]--
		return buf.String(), err
	}
}

func tplFun(parent *template.Template, includedNames map[string]int) func(string, interface{}) (string, error) {
	return func(tpl string, vals interface{}) (string, error) {
		t, err := parent.Clone()
		if err != nil {
			return "", fmt.Errorf("cannot clone template: %w", err)
		}
		t.Option("missingkey=zero")
		t.Funcs(template.FuncMap{
			"include": includeFun(t, includedNames),
			"tpl":     tplFun(t, includedNames),
		})
		t, err = t.New(parent.Name()).Parse(tpl)
		if err != nil {
			return "", fmt.Errorf("cannot parse template %q: %w", tpl, err)
		}
		var buf strings.Builder
		if err := t.Execute(&buf, vals); err != nil {
			return "", fmt.Errorf("error during tpl function execution for %q: %w", tpl, err)
		}
		return strings.ReplaceAll(buf.String(), "<no value>", ""), nil
	}
}

func funcMap(t *template.Template) template.FuncMap {
	f := sprig.TxtFuncMap()
	delete(f, "env")
	delete(f, "expandenv")
	includedNames := map[string]int{}
	extra := template.FuncMap{
		"toToml": func(interface{}) (string, error) {
			return "", errors.New("toToml is not available in this renderer")
		},
		"toYaml":        toYAML,
		"fromYaml":      fromYAML,
		"fromYamlArray": fromYAMLArray,
		"toJson":        toJSON,
		"fromJson":      fromJSON,
		"fromJsonArray": fromJSONArray,
		"include":       includeFun(t, includedNames),
		"tpl":           tplFun(t, includedNames),
		"required": func(warn string, val interface{}) (interface{}, error) {
			if val == nil {
				return val, errors.New(warnWrap(warn))
			} else if s, ok := val.(string); ok && s == "" {
				return val, errors.New(warnWrap(warn))
			}
			return val, nil
		},
		"fail": func(msg string) (string, error) {
			return "", errors.New(warnWrap(msg))
		},
		"lookup": func(string, string, string, string) (map[string]interface{}, error) {
			return map[string]interface{}{}, nil
		},
	}
	for k, v := range extra {
		f[k] = v
	}
	return f
}

// cleanupExecError turns Helm's wrapped messages into its
// "execution error at (file:line:col): message" form.
func cleanupExecError(filename string, err error) error {
	msg := err.Error()
	start := strings.Index(msg, warnStartDelim)
	end := strings.Index(msg, warnEndDelim)
	if start >= 0 && end > start {
		loc := msg
		if i := strings.Index(msg, "template: "); i >= 0 {
			loc = msg[i+len("template: "):]
			if j := strings.Index(loc, ": "); j >= 0 {
				loc = loc[:j]
			}
		}
		return fmt.Errorf("execution error at (%s): %s", loc, msg[start+len(warnStartDelim):end])
	}
	return fmt.Errorf("%s: %w", filename, err)
}

// sortTemplates is engine.sortTemplates: deepest paths first, then by name
// (descending), so that later definitions of a name win as in Helm.
func sortTemplates(names []string) []string {
	sort.Slice(names, func(i, j int) bool {
		a, b := names[i], names[j]
		ca, cb := strings.Count(a, "/"), strings.Count(b, "/")
		if ca != cb {
			return ca > cb
		}
		return a > b
	})
	return names
}

type result struct {
	Manifests map[string]string      `json:"manifests"`
	Notes     string                 `json:"notes"`
	Values    map[string]interface{} `json:"values"`
}

func render(chartDir, name, namespace, kube string, valueFiles, sets []string) (*result, error) {
	chartYAML, err := os.ReadFile(filepath.Join(chartDir, "Chart.yaml"))
	if err != nil {
		return nil, err
	}
	var meta Metadata
	if err := yaml.Unmarshal(chartYAML, &meta); err != nil {
		return nil, fmt.Errorf("Chart.yaml: %w", err)
	}
	if meta.APIVersion != "v2" || meta.Name == "" || meta.Version == "" {
		return nil, errors.New("Chart.yaml: apiVersion v2, name and version are required")
	}
	if filepath.Base(filepath.Clean(chartDir)) != meta.Name {
		return nil, fmt.Errorf("chart directory %q does not match the chart name %q", chartDir, meta.Name)
	}

	defaults, err := readYAMLMap(filepath.Join(chartDir, "values.yaml"))
	if err != nil {
		return nil, err
	}
	user := map[string]interface{}{}
	for _, f := range valueFiles {
		m, err := readYAMLMap(f)
		if err != nil {
			return nil, err
		}
		user = mergeMaps(user, m)
	}
	for _, s := range sets {
		if err := parseSet(user, s); err != nil {
			return nil, err
		}
	}
	values := deepCopy(user)
	coalesceValues(deepCopy(defaults), values)
	if _, ok := values["global"]; !ok {
		values["global"] = map[string]interface{}{}
	}

	if schema, err := os.ReadFile(filepath.Join(chartDir, "values.schema.json")); err == nil {
		if err := validateSchema(schema, values); err != nil {
			return nil, err
		}
	}

	templates := map[string]string{}
	files := Files{}
	err = filepath.WalkDir(chartDir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(chartDir, p)
		rel = filepath.ToSlash(rel)
		if d.IsDir() {
			if rel == "charts" {
				return fmt.Errorf("subcharts are not supported by this renderer")
			}
			return nil
		}
		data, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		switch {
		case strings.HasPrefix(rel, "templates/"):
			templates[path.Join(meta.Name, rel)] = string(data)
		case rel == "Chart.yaml" || rel == "values.yaml" || rel == "values.schema.json":
		default:
			files[rel] = data
		}
		return nil
	})
	if err != nil {
		return nil, err
	}

	major, minor := "1", "29"
	if parts := strings.Split(strings.TrimPrefix(kube, "v"), "."); len(parts) >= 2 {
		major, minor = parts[0], parts[1]
	}
	caps := &Capabilities{
		KubeVersion: KubeVersion{Version: kube, Major: major, Minor: minor},
		APIVersions: VersionSet{"v1", "apps/v1", "batch/v1", "policy/v1", "autoscaling/v2",
			"networking.k8s.io/v1", "rbac.authorization.k8s.io/v1", "route.openshift.io/v1",
			"k8s.keycloak.org/v2alpha1", "observability.openshift.io/v1",
			"external-secrets.io/v1beta1", "argoproj.io/v1alpha1"},
	}
	top := map[string]interface{}{
		"Chart":        &meta,
		"Capabilities": caps,
		"Release": map[string]interface{}{
			"Name":      name,
			"Namespace": namespace,
			"IsUpgrade": false,
			"IsInstall": true,
			"Revision":  1,
			"Service":   "Helm",
		},
		"Values":    values,
		"Files":     files,
		"Subcharts": map[string]interface{}{},
	}

	t := template.New("gotpl")
	t.Option("missingkey=zero")
	t.Funcs(funcMap(t))
	keys := make([]string, 0, len(templates))
	for k := range templates {
		keys = append(keys, k)
	}
	keys = sortTemplates(keys)
	for _, filename := range keys {
		if _, err := t.New(filename).Parse(templates[filename]); err != nil {
			return nil, fmt.Errorf("parse error in %s: %w", filename, err)
		}
	}
	res := &result{Manifests: map[string]string{}, Values: values}
	for _, filename := range keys {
		if strings.HasPrefix(path.Base(filename), "_") {
			continue
		}
		vals := map[string]interface{}{}
		for k, v := range top {
			vals[k] = v
		}
		vals["Template"] = map[string]interface{}{
			"Name": filename, "BasePath": path.Join(meta.Name, "templates"),
		}
		var buf strings.Builder
		if err := t.ExecuteTemplate(&buf, filename, vals); err != nil {
			return nil, cleanupExecError(filename, err)
		}
		text := strings.ReplaceAll(buf.String(), "<no value>", "")
		if strings.HasSuffix(filename, "NOTES.txt") {
			if filename == path.Join(meta.Name, "templates", "NOTES.txt") {
				res.Notes = text
			}
			continue
		}
		res.Manifests[filename] = text
	}
	return res, nil
}
