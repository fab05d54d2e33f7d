package policy

// Labelling a create body. The body is rewritten from its own JSON, not
// from Docker's types, so that fields those types do not know reach the
// daemon as they were; only the top-level labels change.
//
// dockerd decodes with encoding/json: every top-level key that folds to
// "Labels" (Labels, labels, LABELS, even "Labelſ", whose long s folds to s)
// lands in the one Labels map, a later one merging into the earlier, and a
// null emptying it. So the labels dockerd would apply are decoded the same
// way first; then every such key is removed and one "Labels" written with
// those labels and the owner's. No other key of the body can reach them.

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
)

// stampLabels returns body with label=owner added to its top-level labels,
// as dockerd would read them, and the caller's own value for label, if
// any, replaced. The other members keep their bytes and order.
func stampLabels(body, label, owner string) (string, error) {
	var effective struct {
		Labels map[string]string
	}
	if err := json.Unmarshal([]byte(body), &effective); err != nil {
		return "", fmt.Errorf("reading the labels: %w", err)
	}
	members, err := ownerMembers(body)
	if err != nil {
		return "", err
	}
	labels := make(map[string]string, len(effective.Labels)+1)
	for k, v := range effective.Labels {
		labels[k] = v
	}
	labels[label] = owner
	encoded, err := json.Marshal(labels)
	if err != nil {
		return "", fmt.Errorf("writing the labels: %w", err)
	}
	var out strings.Builder
	out.WriteByte('{')
	for _, m := range members {
		if strings.EqualFold(m.key, "Labels") {
			continue
		}
		out.WriteString(m.rawKey)
		out.WriteByte(':')
		out.Write(m.value)
		out.WriteByte(',')
	}
	out.WriteString(`"Labels":`)
	out.Write(encoded)
	out.WriteByte('}')
	return out.String(), nil
}

// ownerMember is one member of a JSON object: its key decoded and as written,
// and its value as written.
type ownerMember struct {
	key, rawKey string
	value       json.RawMessage
}

// ownerMembers splits a JSON object into its members, in order, duplicates
// and all.
func ownerMembers(text string) ([]ownerMember, error) {
	dec := json.NewDecoder(strings.NewReader(text))
	tok, err := dec.Token()
	if err != nil {
		return nil, fmt.Errorf("reading the body: %w", err)
	}
	if d, ok := tok.(json.Delim); !ok || d != '{' {
		return nil, errors.New("the body is not a JSON object")
	}
	var members []ownerMember
	for dec.More() {
		start := dec.InputOffset()
		tok, err := dec.Token()
		if err != nil {
			return nil, fmt.Errorf("reading the body: %w", err)
		}
		key, ok := tok.(string)
		if !ok {
			return nil, errors.New("the body is not a JSON object")
		}
		// The token's text runs from after the last value (a comma and
		// spaces before the key) to the key's closing quote.
		raw := strings.TrimLeft(text[start:dec.InputOffset()], " \t\r\n,")
		var value json.RawMessage
		if err := dec.Decode(&value); err != nil {
			return nil, fmt.Errorf("reading the body: %w", err)
		}
		members = append(members, ownerMember{key: key, rawKey: raw, value: bytes.Clone(value)})
	}
	return members, nil
}
