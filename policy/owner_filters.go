package policy

// Scoping a list, prune or events call: the caller's label is added to
// its filters. Docker ANDs the label filters it is given, so whatever the
// caller asked for, only objects carrying the caller's label match; and a
// filter it cannot read, it refuses, so neither does the policy.

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"strings"
)

// filter decides a list, prune or events call.
func (oc *ownerCall) filter() (verdict, error) {
	_, rawQuery, _ := strings.Cut(oc.c.request.Request, "?")
	q, err := addLabelFilter(rawQuery, oc.p.label+"="+oc.owner)
	if err != nil {
		return oc.p.refuse(http.StatusBadRequest, "%v", err), nil
	}
	return oc.rewritten((&url.URL{Path: oc.c.Path, RawQuery: q}).RequestURI(), nil), nil
}

// addLabelFilter returns rawQuery with one filters parameter: the filters
// Docker would have read from rawQuery, and the label filter want. Docker
// reads the first valid filters pair; the others are dropped, so that no
// reading of the query but Docker's can find another.
func addLabelFilter(rawQuery, want string) (string, error) {
	values, _ := url.ParseQuery(rawQuery) // Docker keeps the valid pairs too
	filters, err := ownerParseFilters(values.Get("filters"))
	if err != nil {
		return "", err
	}
	if filters["label"] == nil {
		filters["label"] = map[string]bool{}
	}
	filters["label"][want] = true
	encoded, err := json.Marshal(filters)
	if err != nil {
		return "", fmt.Errorf("writing the filters: %w", err)
	}
	var kept []string
	for _, pair := range strings.Split(rawQuery, "&") {
		key, _, _ := strings.Cut(pair, "=")
		if k, err := url.QueryUnescape(key); pair == "" || err == nil && k == "filters" {
			continue
		}
		kept = append(kept, pair)
	}
	return strings.Join(append(kept, "filters="+url.QueryEscape(string(encoded))), "&"), nil
}

// ownerParseFilters reads a filters parameter as Docker does (filters.FromJSON):
// {"label":{"k=v":true}}, or else the older {"label":["k=v"]}; "" is none.
// The booleans mean nothing to Docker's matching, so the older form is
// read into the newer.
func ownerParseFilters(text string) (map[string]map[string]bool, error) {
	filters := map[string]map[string]bool{}
	if text == "" {
		return filters, nil
	}
	if err := json.Unmarshal([]byte(text), &filters); err == nil {
		if filters == nil { // "null"
			filters = map[string]map[string]bool{}
		}
		return filters, nil
	}
	var legacy map[string][]string
	if err := json.Unmarshal([]byte(text), &legacy); err != nil {
		return nil, fmt.Errorf("the filters parameter is not filters Docker can read: %w", err)
	}
	filters = map[string]map[string]bool{}
	for name, values := range legacy {
		filters[name] = map[string]bool{}
		for _, v := range values {
			filters[name][v] = true
		}
	}
	return filters, nil
}
