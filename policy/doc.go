// Package policy is powerstrip's policy compiler: CEL rules and the
// built-in policy pack.
package policy
