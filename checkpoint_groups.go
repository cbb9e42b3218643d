package optim

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math"
	"reflect"
)

// This file maps a group's rule to and from an entry of torch's
// param_groups: the keyword arguments of the torch class, named as torch
// names them, and params, the indices of the group's parameters. Each rule
// states its entry as data, a torchForm in its own file; the encoder
// (className, torchGroup) and the decoder (decodeGroup) here read it.

// torchForm is how torch sees a rule: its class, the keys of its entry in
// param_groups, and whether its state counts steps. Make one with
// newTorchForm.
type torchForm struct {
	typ reflect.Type // the rule type, which newTorchForm sets
	// class is the rule's torch class (Lion's: lion-pytorch's).
	class string
	// flagged, when set, is a second torch class that is the rule with a
	// boolean field set (AdamW: Adam with Decoupled).
	flagged *flaggedClass
	// keys are the entry's keys in the order torch writes them. params,
	// the group's parameter indices, follows them.
	keys []groupKey
	// noStep reports that torch keeps no step count in the rule's state
	// (SGD): its checkpoints have no step tensors.
	noStep bool
}

// flaggedClass is a torch class that is the rule with the boolean field
// field set. Torch may write that field as key in the entry of either
// class: it is not written, and when read it must agree with the class.
type flaggedClass struct {
	class, field, key string
}

// groupKey is one key of a param_groups entry.
type groupKey struct {
	name string
	// fields are the rule's fields that the key holds: one number or
	// boolean, or two numbers (torch's betas, etas, step_sizes).
	fields []string
	// constant is the JSON of a key that holds no field: one of torch's
	// implementation choices, which do not change the arithmetic but which
	// torch's step reads from the group, written with torch's defaults.
	constant string
	// optional marks a key that torch does not write (Muon's
	// ns_bfloat16): an entry without it has the field's zero value.
	optional bool
}

// hyper is the key name holding the rule's fields.
func hyper(name string, fields ...string) groupKey { return groupKey{name: name, fields: fields} }

// Torch's implementation choices, as its optimizers write them by default.
var (
	foreachKey        = groupKey{name: "foreach", constant: "null"}
	capturableKey     = groupKey{name: "capturable", constant: "false"}
	differentiableKey = groupKey{name: "differentiable", constant: "false"}
	fusedKey          = groupKey{name: "fused", constant: "false"}
)

// ignoredGroupKeys do not change the arithmetic, and are accepted in the
// entry of any class: torch's implementation choices, and initial_lr,
// which torch's LR schedulers add to the group and which belongs to the
// schedule's state.
var ignoredGroupKeys = map[string]bool{
	foreachKey.name: true, capturableKey.name: true, differentiableKey.name: true, fusedKey.name: true, "initial_lr": true,
}

// newTorchForm returns the form of rule type R. It panics if the form does
// not match R (a field it names that R lacks or that has another type, a
// field of R that no key holds), or if R is not named as its Kind, which
// messages rely on (ruleName, normalize): the rule's file is then wrong,
// and every test fails when the package initializes.
func newTorchForm[R Rule](f torchForm) torchForm {
	f.typ = reflect.TypeFor[R]()
	var zero R
	if name := zero.kind().String(); name != f.typ.Name() {
		panic(fmt.Sprintf("optim: the rule type %s has the kernel of %s: name it as its Kind", f.typ.Name(), name))
	}
	held := map[string]bool{}
	hold := func(field string, kind reflect.Kind) {
		if sf, ok := f.typ.FieldByName(field); !ok || sf.Type.Kind() != kind || held[field] {
			panic(fmt.Sprintf("optim: the torch form of %s: field %s is missing, held twice or not a %s", f.typ.Name(), field, kind))
		}
		held[field] = true
	}
	for _, k := range f.keys {
		switch len(k.fields) {
		case 0:
			if !ignoredGroupKeys[k.name] {
				panic(fmt.Sprintf("optim: the torch form of %s: key %s holds no field", f.typ.Name(), k.name))
			}
		case 1:
			kind := reflect.Float64
			if sf, ok := f.typ.FieldByName(k.fields[0]); ok && sf.Type.Kind() == reflect.Bool {
				kind = reflect.Bool
			}
			hold(k.fields[0], kind)
		case 2:
			hold(k.fields[0], reflect.Float64)
			hold(k.fields[1], reflect.Float64)
		default:
			panic(fmt.Sprintf("optim: the torch form of %s: key %s holds %d fields", f.typ.Name(), k.name, len(k.fields)))
		}
	}
	if f.flagged != nil {
		hold(f.flagged.field, reflect.Bool)
	}
	if len(held) != f.typ.NumField() {
		panic(fmt.Sprintf("optim: the torch form of %s holds %d of its %d fields", f.typ.Name(), len(held), f.typ.NumField()))
	}
	return f
}

// accepts reports whether key belongs in the form's entry.
func (f *torchForm) accepts(key string) bool {
	if f.flagged != nil && key == f.flagged.key {
		return true
	}
	for _, k := range f.keys {
		if k.name == key {
			return true
		}
	}
	return false
}

// className is the torch class of a rule: Adam with Decoupled is AdamW.
func className(r Rule) string {
	f := r.torch()
	if f.flagged != nil && reflect.ValueOf(r).FieldByName(f.flagged.field).Bool() {
		return f.flagged.class
	}
	return f.class
}

// torchGroup encodes group [first, end) under r in torch's layout, as
// json.Marshal writes a struct with the form's keys as its fields. names,
// when not nil, are the parameters' names: torch 2.x's param_names, first,
// where torch's add_param_group puts them.
func torchGroup(r Rule, first, end int, names []string) json.RawMessage {
	params := make([]int, end-first)
	for i := range params {
		params[i] = first + i
	}
	v := reflect.ValueOf(r)
	var b bytes.Buffer
	b.WriteByte('{')
	if names != nil {
		b.WriteString(`"` + paramNamesKey + `":`)
		b.WriteString(mustJSON(names))
		b.WriteByte(',')
	}
	for _, k := range r.torch().keys {
		b.WriteString(mustJSON(k.name))
		b.WriteByte(':')
		switch len(k.fields) {
		case 0:
			b.WriteString(k.constant)
		case 1:
			if f := v.FieldByName(k.fields[0]); f.Kind() == reflect.String && f.String() == "" {
				b.WriteString("null") // torch's None (Muon's adjust_lr_fn)
			} else {
				b.WriteString(mustJSON(f.Interface()))
			}
		case 2:
			b.WriteString(mustJSON([2]float64{v.FieldByName(k.fields[0]).Float(), v.FieldByName(k.fields[1]).Float()}))
		case 3:
			b.WriteString(tripleJSON(v, k.fields))
		}
		b.WriteByte(',')
	}
	b.WriteString(`"params":`)
	b.WriteString(mustJSON(params))
	b.WriteByte('}')
	return b.Bytes()
}

// decodeGroup decodes entry gi of param_groups as a group of torch class
// class over the parameters [first, end), in the form of the group's rule
// (whose class the caller has compared with class). Every hyperparameter
// key is required. The rule is not validated: loadHeld does that.
//
// The keys are read in a fixed order, which decides the key that an error
// names when several are wrong: the pairs, then the flagged class's key,
// then the other keys in the form's order.
func decodeGroup(op string, raw json.RawMessage, gi int, class string, form *torchForm, first, end int) (Rule, error) {
	bad := func(format string, args ...any) error {
		return ckErr(op, nil, "param_groups[%d]: %s", gi, fmt.Sprintf(format, args...))
	}
	var m map[string]json.RawMessage
	if err := json.Unmarshal(raw, &m); err != nil || m == nil {
		return nil, bad("not a JSON object")
	}
	// json.Unmarshal keeps the last of two equal keys; a file that says
	// two things about one hyperparameter is refused instead.
	if k, ok := duplicateKey(raw); ok {
		return nil, bad("key %q appears twice", k)
	}
	flagged := form.flagged != nil && class == form.flagged.class
	if class != form.class && !flagged {
		return nil, bad("unknown optimizer class %q", class)
	}
	for k := range m {
		if !ignoredGroupKeys[k] && k != "params" && k != paramNamesKey && !form.accepts(k) {
			return nil, bad("unknown key %q for %s", k, class)
		}
	}
	var params []int
	if err := json.Unmarshal(m["params"], &params); err != nil || params == nil {
		return nil, bad("params is not a list of indices")
	}
	if len(params) != end-first {
		return nil, &ShapeError{Op: op, What: fmt.Sprintf("params of group %d", gi), Index: -1, Got: len(params), Want: end - first}
	}
	for j, p := range params {
		if p != first+j {
			return nil, bad("params[%d] = %d, want %d: the groups' parameters must be numbered in order", j, p, first+j)
		}
	}
	var err error
	// A missing key and null both fail here: json.Unmarshal of null into
	// a number or a boolean would leave it zero without an error.
	null := func(key string) bool { return string(bytes.TrimSpace(m[key])) == "null" }
	num := func(key string) float64 {
		var x float64
		if e := json.Unmarshal(m[key], &x); (e != nil || null(key)) && err == nil {
			err = bad("%q: missing or not a number", key)
		}
		return x
	}
	flag := func(key string) bool {
		var x bool
		if e := json.Unmarshal(m[key], &x); (e != nil || null(key)) && err == nil {
			err = bad("%q: missing or not a boolean", key)
		}
		return x
	}
	// pair decodes a key holding two numbers (betas, etas, step_sizes);
	// NaNs on error, which err reports.
	pair := func(key string) (float64, float64) {
		var x []float64
		if e := json.Unmarshal(m[key], &x); (e != nil || len(x) != 2) && err == nil {
			err = bad("%q: missing or not two numbers", key)
		}
		x = append(x, math.NaN(), math.NaN())
		return x[0], x[1]
	}
	v := reflect.New(form.typ).Elem()
	for _, k := range form.keys {
		if len(k.fields) == 3 && err == nil {
			err = decodeTriple(v, k, m[k.name], bad)
		}
		if len(k.fields) == 2 {
			a, b := pair(k.name)
			v.FieldByName(k.fields[0]).SetFloat(a)
			v.FieldByName(k.fields[1]).SetFloat(b)
		}
	}
	if f := form.flagged; f != nil {
		v.FieldByName(f.field).SetBool(flagged)
		if _, ok := m[f.key]; ok && flag(f.key) != flagged {
			return nil, bad("%s disagrees with the class %s", f.key, class)
		}
	}
	for _, k := range form.keys {
		if _, ok := m[k.name]; !ok && k.optional {
			continue
		}
		if len(k.fields) == 1 {
			switch field := v.FieldByName(k.fields[0]); field.Kind() {
			case reflect.Bool:
				field.SetBool(flag(k.name))
			case reflect.Int:
				x := num(k.name)
				if x != math.Trunc(x) || math.Abs(x) > 1<<30 {
					if err == nil {
						err = bad("%q: %v is not an integer", k.name, x)
					}
					x = 0
				}
				field.SetInt(int64(x))
			case reflect.String:
				var x *string
				if e := json.Unmarshal(m[k.name], &x); e != nil && err == nil {
					err = bad("%q: missing or not a string or null", k.name)
				}
				if x != nil {
					field.SetString(*x)
				}
			default:
				field.SetFloat(num(k.name))
			}
		}
	}
	if err != nil {
		return nil, err
	}
	return v.Interface().(Rule), nil
}

// duplicateKey returns a key that appears twice at the top level of the
// JSON object raw, which json.Unmarshal has accepted.
func duplicateKey(raw json.RawMessage) (string, bool) {
	dec := json.NewDecoder(bytes.NewReader(raw))
	if _, err := dec.Token(); err != nil { // {
		return "", false
	}
	seen := map[string]bool{}
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return "", false
		}
		k, _ := tok.(string)
		if seen[k] {
			return k, true
		}
		seen[k] = true
		var skip json.RawMessage
		if err := dec.Decode(&skip); err != nil {
			return "", false
		}
	}
	return "", false
}

// tripleJSON encodes a key of three fields: three numbers (Muon's
// ns_coefficients), or a pair whose first may be torch's None, flagged by
// a boolean third field (Adafactor's eps: Eps1, Eps2, MachineEps1).
func tripleJSON(v reflect.Value, fields []string) string {
	if f := v.FieldByName(fields[2]); f.Kind() == reflect.Bool {
		var first any = v.FieldByName(fields[0]).Float()
		if f.Bool() {
			first = nil
		}
		return mustJSON([2]any{first, v.FieldByName(fields[1]).Float()})
	}
	return mustJSON([3]float64{v.FieldByName(fields[0]).Float(), v.FieldByName(fields[1]).Float(), v.FieldByName(fields[2]).Float()})
}

// decodeTriple decodes what tripleJSON encodes into v's fields.
func decodeTriple(v reflect.Value, k groupKey, raw json.RawMessage, bad func(string, ...any) error) error {
	if f := v.FieldByName(k.fields[2]); f.Kind() == reflect.Bool {
		var x []*float64
		if e := json.Unmarshal(raw, &x); e != nil || len(x) != 2 || x[1] == nil {
			return bad("%q: missing or not a pair of a number or null and a number", k.name)
		}
		f.SetBool(x[0] == nil)
		if x[0] != nil {
			v.FieldByName(k.fields[0]).SetFloat(*x[0])
		}
		v.FieldByName(k.fields[1]).SetFloat(*x[1])
		return nil
	}
	var x []float64
	if e := json.Unmarshal(raw, &x); e != nil || len(x) != 3 {
		return bad("%q: missing or not three numbers", k.name)
	}
	for j, name := range k.fields {
		v.FieldByName(name).SetFloat(x[j])
	}
	return nil
}
