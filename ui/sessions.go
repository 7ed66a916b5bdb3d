package ui

import (
	"sync"
	"sync/atomic"

	"cxrview/app"
)

// sessionPool keeps at most one app.Session per study for the report
// panel. The study on screen and a generation still finishing on it share
// one session, and a study is opened again only after its last session
// has written everything: two sessions on one draft would each save their
// own text, the later overwriting the earlier's last changes.
//
// The panel holds a reference to the session on screen, each model run one
// to the session it writes into; the session is closed (flushed) when the
// last reference goes. Methods are safe from any goroutine; acquire and
// release touch the disk, so the panel calls them off the UI goroutine.
type sessionPool struct {
	// onSave hears every save attempt of every session, from the
	// goroutine that saved.
	onSave func(*app.Session, error)

	mu   sync.Mutex
	open map[string]*pooledSession // by study key
}

type pooledSession struct {
	sess  *app.Session // nil until opened
	refs  int
	ready chan struct{} // closed once OpenSession returned
	err   error         // why OpenSession failed
	// closed is made when the last reference went, and closed once the
	// session has been flushed and left the pool.
	closed chan struct{}
}

func newSessionPool(onSave func(*app.Session, error)) *sessionPool {
	return &sessionPool{onSave: onSave, open: map[string]*pooledSession{}}
}

// acquire returns the session of st with a reference for the caller: the
// one already open, or a new one from the disk once any close of the same
// study has finished. opts apply to a session it opens. The error of a
// session that comes back is a warning (a damaged draft was set aside).
func (sp *sessionPool) acquire(dirs app.Dirs, st *app.Study, opts app.SessionOptions) (*app.Session, error) {
	for {
		sp.mu.Lock()
		e := sp.open[st.Key]
		if e == nil {
			break // the lock is held
		}
		if e.closed != nil {
			ch := e.closed
			sp.mu.Unlock()
			<-ch
			continue
		}
		e.refs++
		sp.mu.Unlock()
		<-e.ready
		if e.sess == nil {
			return nil, e.err
		}
		return e.sess, nil
	}
	e := &pooledSession{refs: 1, ready: make(chan struct{})}
	sp.open[st.Key] = e
	sp.mu.Unlock()

	// A save can report before OpenSession returns (an interrupted
	// generation is recorded at once): the session is handed over
	// through opened.
	var opened atomic.Pointer[app.Session]
	if sp.onSave != nil {
		opts.OnSave = func(err error) {
			if s := opened.Load(); s != nil {
				sp.onSave(s, err)
			}
		}
	}
	sess, err := app.OpenSession(dirs, st, opts)
	opened.Store(sess)
	if sess == nil {
		sp.mu.Lock()
		delete(sp.open, st.Key)
		sp.mu.Unlock()
		e.err = err
		close(e.ready)
		return nil, err
	}
	e.sess = sess
	close(e.ready)
	return sess, err
}

// retain adds a reference to sess, which the caller holds one of already.
func (sp *sessionPool) retain(sess *app.Session) {
	sp.mu.Lock()
	defer sp.mu.Unlock()
	if e := sp.open[sess.Study().Key]; e != nil && e.sess == sess {
		e.refs++
	}
}

// release drops a reference to sess; the last one closes it, which writes
// what is not saved yet.
func (sp *sessionPool) release(sess *app.Session) {
	sp.mu.Lock()
	key := sess.Study().Key
	e := sp.open[key]
	if e == nil || e.sess != sess || e.closed != nil {
		sp.mu.Unlock()
		return
	}
	e.refs--
	if e.refs > 0 {
		sp.mu.Unlock()
		return
	}
	e.closed = make(chan struct{})
	sp.mu.Unlock()
	sess.Close()
	sp.mu.Lock()
	delete(sp.open, key)
	close(e.closed)
	sp.mu.Unlock()
}

// flushAll writes every open session now, whoever holds it: the
// application is stopping.
func (sp *sessionPool) flushAll() {
	sp.mu.Lock()
	var ss []*app.Session
	for _, e := range sp.open {
		if e.sess != nil {
			ss = append(ss, e.sess)
		}
	}
	sp.mu.Unlock()
	for _, s := range ss {
		s.Flush()
	}
}
