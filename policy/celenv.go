package policy

// The CEL environment rules are checked and run in. Its two variables,
// request and caller, have object types declared here rather than
// map(string, dyn), so that the checker knows their fields: a typo such as
// request.metod or caller.ui is a config error when the file loads, not a
// "no such key" on the first call. The types are served by a small
// provider over this package's own values, without reflection.

import (
	"github.com/google/cel-go/cel"
	"github.com/google/cel-go/common/types"
	"github.com/google/cel-go/common/types/ref"
	"github.com/google/cel-go/ext"
)

// The CEL names of the variables' types, as error messages show them.
const (
	requestTypeName = "powerstrip.Request"
	callerTypeName  = "powerstrip.Caller"
)

// The variables' types. *types.Type values are immutable.
var (
	requestType = types.NewObjectType(requestTypeName)
	callerType  = types.NewObjectType(callerTypeName)
	stringLists = types.NewMapType(types.StringType, types.NewListType(types.StringType))
)

// newCELEnv builds the environment of one compile: CEL's standard library
// with the extensions Kubernetes' CEL users know (strings, lists, sets,
// optional values), and the two variables.
func newCELEnv() (*cel.Env, error) {
	base, err := types.NewRegistry()
	if err != nil {
		return nil, err
	}
	return cel.NewEnv(
		cel.CustomTypeProvider(&celProvider{Registry: base, objects: map[string]map[string]*types.FieldType{
			requestTypeName: requestFields(),
			callerTypeName:  callerFields(),
		}}),
		cel.Variable("request", requestType),
		cel.Variable("caller", callerType),
		cel.CrossTypeNumericComparisons(true),
		cel.OptionalTypes(),
		ext.Strings(),
		ext.Lists(),
		ext.Sets(),
	)
}

// celProvider adds the request and caller object types to CEL's own. It
// embeds the registry itself, not only its Provider methods, so that
// libraries that register types of their own (optional values) can.
type celProvider struct {
	*types.Registry
	objects map[string]map[string]*types.FieldType
}

// FindStructType implements types.Provider.
func (p *celProvider) FindStructType(name string) (*types.Type, bool) {
	if _, ok := p.objects[name]; ok {
		return types.NewTypeTypeWithParam(types.NewObjectType(name)), true
	}
	return p.Registry.FindStructType(name)
}

// FindStructFieldNames implements types.Provider.
func (p *celProvider) FindStructFieldNames(name string) ([]string, bool) {
	fields, ok := p.objects[name]
	if !ok {
		return p.Registry.FindStructFieldNames(name)
	}
	names := make([]string, 0, len(fields))
	for n := range fields {
		names = append(names, n)
	}
	return names, true
}

// FindStructFieldType implements types.Provider: the checker learns the
// fields' types here, and the interpreter how to read them.
func (p *celProvider) FindStructFieldType(name, field string) (*types.FieldType, bool) {
	fields, ok := p.objects[name]
	if !ok {
		return p.Registry.FindStructFieldType(name, field)
	}
	ft, ok := fields[field]
	return ft, ok
}

// NewValue implements types.Provider. A rule reads the call; it cannot
// make one.
func (p *celProvider) NewValue(name string, fields map[string]ref.Val) ref.Val {
	if _, ok := p.objects[name]; ok {
		return types.NewErr("%s values cannot be constructed", name)
	}
	return p.Registry.NewValue(name, fields)
}
