package powerstrip

// The memory a Proxy holds for hooks: JSON request bodies read for
// pre-hooks and answers buffered for post-hooks, bounded per body and
// across all calls.

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"

	"golang.org/x/sync/semaphore"
)

// DefaultHookMemoryLimit bounds the bytes of bodies held for hooks across
// all calls at once; see WithHookMemoryLimit.
const DefaultHookMemoryLimit = 256 << 20

// bodyBudget bounds the bytes held for hooks across all calls of one
// Proxy. Without it, thirty clients sending 8 MiB bodies at once hold a
// quarter of a GiB, and a few hundred exhaust the machine.
type bodyBudget struct {
	sem   *semaphore.Weighted
	limit int64
}

func newBodyBudget(limit int64) *bodyBudget {
	return &bodyBudget{sem: semaphore.NewWeighted(limit), limit: limit}
}

// budgetError is a body refused because the budget is spent.
type budgetError struct {
	limit int64
	// executed: Docker has made the call already (its answer was being
	// buffered for post-hooks), so the client must not simply retry.
	executed bool
}

func (e *budgetError) Error() string {
	if e.executed {
		return fmt.Sprintf("the call was made, but its answer cannot be held for the post-hooks: "+
			"the bodies held for hooks across all calls already take the %d bytes allowed (WithHookMemoryLimit)", e.limit)
	}
	return fmt.Sprintf("the bodies held for hooks across all calls already take the %d bytes allowed (WithHookMemoryLimit); "+
		"Docker was not called; try again", e.limit)
}

// errTooLarge marks a body over its limit.
var errTooLarge = errors.New("too large")

// heldBody is a body read for hooks, and what it is charged.
type heldBody struct {
	text    string
	charged int64
}

// read reads r whole, at most limit bytes, into one string: the bytes are
// held once, and the hooks, the chain and the request to Docker all share
// them. size is r's declared length, or -1. Every byte of capacity is
// charged to the budget before it is allocated; with wait, a charge waits
// for others to give back (bounded by ctx), else it fails at once. The
// caller gives back hb.charged with release, also on error.
func (b *bodyBudget) read(ctx context.Context, r io.Reader, size, limit int64, wait bool) (hb heldBody, err error) {
	k := keeper{budget: b, limit: limit, wait: wait}
	defer func() { hb.charged = k.charged }()
	if size > limit {
		return hb, errTooLarge
	}
	if size > 0 {
		if err := k.grow(ctx, size); err != nil {
			return hb, err
		}
	}
	var buf [16 << 10]byte
	for {
		n, rerr := r.Read(buf[:])
		if n > 0 {
			if err := k.write(ctx, buf[:n]); err != nil {
				return hb, err
			}
		}
		if rerr == io.EOF {
			hb.text = k.sb.String()
			return hb, nil
		}
		if rerr != nil {
			return hb, rerr
		}
	}
}

// keeper holds a body for hooks as it arrives, at most limit bytes,
// charging the budget for its capacity before it grows.
type keeper struct {
	budget  *bodyBudget
	limit   int64
	wait    bool // see bodyBudget.read
	sb      strings.Builder
	charged int64
}

// write appends p: errTooLarge past the limit, a *budgetError when the
// budget has no room.
func (k *keeper) write(ctx context.Context, p []byte) error {
	need := int64(k.sb.Len() + len(p))
	if need > k.limit {
		return errTooLarge
	}
	if err := k.grow(ctx, need); err != nil {
		return err
	}
	k.sb.Write(p)
	return nil
}

// grow makes room for need bytes in all, doubling the capacity to keep
// the copies few.
func (k *keeper) grow(ctx context.Context, need int64) error {
	if need <= k.charged {
		return nil
	}
	more := max(need, min(2*k.charged, k.limit)) - k.charged
	if err := k.budget.take(ctx, more, k.wait); err != nil {
		return err
	}
	k.charged += more
	k.sb.Grow(int(k.charged) - k.sb.Len())
	return nil
}

// release gives back what k was charged.
func (k *keeper) release() {
	k.budget.release(&heldBody{charged: k.charged})
	k.charged = 0
}

func (b *bodyBudget) take(ctx context.Context, n int64, wait bool) error {
	// Only answers wait, and Docker made their call already.
	spent := &budgetError{limit: b.limit, executed: wait}
	switch {
	case n > b.limit:
		return spent
	case !wait:
		if !b.sem.TryAcquire(n) {
			return spent
		}
	default:
		if err := b.sem.Acquire(ctx, n); err != nil {
			return fmt.Errorf("%w (waited: %w)", spent, err)
		}
	}
	return nil
}

// release gives back what hb was charged.
func (b *bodyBudget) release(hb *heldBody) {
	if hb.charged > 0 {
		b.sem.Release(hb.charged)
		hb.charged = 0
	}
}
