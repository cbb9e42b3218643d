package ir

// Rule is what Build needs of an update rule: its symbol name and its loop
// body. Package generic describes every rule, its body included, and states
// the body with this package's Builder; so this package cannot import
// generic, and generic hands its rules over instead (Register) when it
// initializes. Every caller of Build imports generic anyway, for the rules'
// other facts, so the rules are registered by the time it runs.
type Rule struct {
	// Name is generic.RuleDesc.Name, the lower-case symbol name: "adam".
	Name string
	// Body states the rule's loop body under variant (a generic.Variant)
	// into b, operation for operation as the reference kernel computes.
	Body func(b *Builder, variant uint32)
}

// rules is what Register recorded.
type rules struct {
	coeffs []string
	rules  []Rule
}

// registry is set once, during package initialization, before any caller
// of Build runs.
var registry *rules

// Register records the update rules, indexed by generic.Kind, and the names
// of generic.Coeffs' fields in layout order, which every rule's OpCoeff
// indexes. Package generic calls it once, when it initializes.
func Register(coeffNames []string, all []Rule) {
	registry = &rules{coeffs: coeffNames, rules: all}
}

func registered() *rules {
	r := registry
	if r == nil {
		panic("ir: no rules registered: package generic registers them when it initializes, so import it")
	}
	return r
}

// CoeffNames lists the fields of generic.Coeffs in layout order: every
// field has the element type, so field k lies at byte offset k*sizeof(T)
// for both element types (generic checks that when it initializes), which
// is what lets assembly read coefficient k at a fixed offset.
func CoeffNames() []string { return registered().coeffs }

// Build returns update rule kind's program (kind is a generic.Kind) under
// variant v (a generic.Variant).
func Build(kind int, v uint32) Program {
	r := registered()
	b := NewBuilder(r.coeffs)
	b.p.Kind, b.p.Variant = kind, v
	r.rules[kind].Body(b, v)
	return b.p
}
