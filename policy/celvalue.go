package policy

// The values of the request and caller variables: thin views of a Call,
// read field by field as a rule asks, so that a rule that reads the method
// costs no more than the method.

import (
	"errors"
	"fmt"
	"reflect"

	"github.com/google/cel-go/common/types"
	"github.com/google/cel-go/common/types/ref"

	"github.com/powerstrip-go/powerstrip"
)

// celRequest is the request variable: one call, its body converted for
// CEL on first use and then shared by every rule that reads it.
type celRequest struct {
	call     *Call
	body     any
	bodyErr  error
	bodyDone bool
}

// celBodyOf is the call's body as rules see it, converted once per call.
// Rules of one call run one after another, so no lock is needed.
func (r *celRequest) celBodyOf() (any, error) {
	if !r.bodyDone {
		r.bodyDone = true
		if r.call.BodyErr != nil {
			r.bodyErr = r.call.BodyErr
		} else {
			r.body, r.bodyErr = celBody(r.call.Body)
		}
	}
	return r.body, r.bodyErr
}

// requestFields are the fields of powerstrip.Request (docs/policies-rules.md).
func requestFields() map[string]*types.FieldType {
	always := func(any) bool { return true }
	str := func(get func(*Call) string) *types.FieldType {
		return &types.FieldType{Type: types.StringType, IsSet: always, GetFrom: func(o any) (any, error) {
			return types.String(get(o.(*celRequest).call)), nil
		}}
	}
	lists := func(get func(*Call) map[string][]string) *types.FieldType {
		return &types.FieldType{Type: stringLists, IsSet: always, GetFrom: func(o any) (any, error) {
			m := get(o.(*celRequest).call)
			if m == nil {
				m = map[string][]string{}
			}
			return m, nil
		}}
	}
	return map[string]*types.FieldType{
		"method":  str(func(c *Call) string { return c.Method }),
		"path":    str(func(c *Call) string { return c.Path }),
		"version": str(func(c *Call) string { return c.Version }),
		"route":   str(func(c *Call) string { return c.Route.Name }),
		"effect":  str(func(c *Call) string { return c.Route.Effect }),
		"libpod": {Type: types.BoolType, IsSet: always, GetFrom: func(o any) (any, error) {
			return types.Bool(o.(*celRequest).call.Route.Libpod), nil
		}},
		"query":   lists(func(c *Call) map[string][]string { return c.Query }),
		"headers": lists(func(c *Call) map[string][]string { return c.Headers }),
		"body": {Type: types.DynType,
			IsSet: func(o any) bool {
				c := o.(*celRequest).call
				return c.Body != nil || c.BodyErr != nil
			},
			GetFrom: func(o any) (any, error) {
				b, err := o.(*celRequest).celBodyOf()
				if err != nil {
					return nil, err
				}
				if b == nil {
					return types.NullValue, nil
				}
				return b, nil
			}},
	}
}

// errNoCaller is reading a caller field the listener could not tell.
var errNoCaller = errors.New("not known for this call (use has(caller.FIELD))")

// callerFields are the fields of powerstrip.Caller. Each is set only when
// the listener could tell it; reading one that is not is an error, never
// a zero that would read as root's uid 0.
func callerFields() map[string]*types.FieldType {
	id := func(name string, get func(*powerstrip.Caller) (int64, bool)) *types.FieldType {
		read := func(o any) (int64, bool) {
			c := o.(*celCaller).c
			if c == nil {
				return 0, false
			}
			return get(c)
		}
		return &types.FieldType{Type: types.IntType,
			IsSet: func(o any) bool { _, ok := read(o); return ok },
			GetFrom: func(o any) (any, error) {
				v, ok := read(o)
				if !ok {
					return nil, fmt.Errorf("caller.%s: %w", name, errNoCaller)
				}
				return types.Int(v), nil
			}}
	}
	return map[string]*types.FieldType{
		"uid": id("uid", func(c *powerstrip.Caller) (int64, bool) { return optional(c.UID) }),
		"gid": id("gid", func(c *powerstrip.Caller) (int64, bool) { return optional(c.GID) }),
		"pid": id("pid", func(c *powerstrip.Caller) (int64, bool) { return optional(c.PID) }),
		"tlsSubject": {Type: types.StringType,
			IsSet: func(o any) bool {
				c := o.(*celCaller).c
				return c != nil && c.TLSSubject != ""
			},
			GetFrom: func(o any) (any, error) {
				c := o.(*celCaller).c
				if c == nil || c.TLSSubject == "" {
					return nil, fmt.Errorf("caller.tlsSubject: %w", errNoCaller)
				}
				return types.String(c.TLSSubject), nil
			}},
	}
}

// optional reads one of a caller's optional ids.
func optional[T uint32 | int32](p *T) (int64, bool) {
	if p == nil {
		return 0, false
	}
	return int64(*p), true
}

// celCaller is the caller variable; c is nil when nothing is known.
type celCaller struct{ c *powerstrip.Caller }

// The ref.Val methods: both values are opaque objects of their type,
// equal only to themselves.

func (r *celRequest) ConvertToNative(t reflect.Type) (any, error) { return convertSelf(r, t) }
func (r *celRequest) ConvertToType(t ref.Type) ref.Val            { return convertType(r, requestType, t) }
func (r *celRequest) Equal(o ref.Val) ref.Val                     { return types.Bool(o == ref.Val(r)) }
func (r *celRequest) Type() ref.Type                              { return requestType }
func (r *celRequest) Value() any                                  { return r }

func (c *celCaller) ConvertToNative(t reflect.Type) (any, error) { return convertSelf(c, t) }
func (c *celCaller) ConvertToType(t ref.Type) ref.Val            { return convertType(c, callerType, t) }
func (c *celCaller) Equal(o ref.Val) ref.Val                     { return types.Bool(o == ref.Val(c)) }
func (c *celCaller) Type() ref.Type                              { return callerType }
func (c *celCaller) Value() any                                  { return c }

func convertSelf(v any, t reflect.Type) (any, error) {
	if reflect.TypeOf(v).AssignableTo(t) {
		return v, nil
	}
	return nil, fmt.Errorf("cannot convert %T to %v", v, t)
}

func convertType(v ref.Val, own *types.Type, t ref.Type) ref.Val {
	switch t {
	case types.TypeType:
		return own
	case own:
		return v
	}
	return types.NewErr("type conversion error from %s to %s", own.TypeName(), t.TypeName())
}
