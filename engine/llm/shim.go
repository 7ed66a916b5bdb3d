package llm

// What ollama's llama package does not wrap, reached through llama.cpp's own
// C API. The symbols are linked in by github.com/ollama/ollama/llama; the
// headers are copies of the same version's public headers, put on the
// include path by `make headers` (CGO_CPPFLAGS=-I<cache>/llama-include).

/*
#cgo linux LDFLAGS: -ldl
#include <stdlib.h>
#include <stdio.h>
#include <string.h>
#include <stdatomic.h>
#include <pthread.h>
#if !defined(_WIN32)
#include <dlfcn.h>
#include <signal.h>
#endif
#include "ollama/ggml.h"
#include "ollama/llama.h"
#include "ollama/mtmd.h"
#include "ollama/ggml-backend.h"

extern char const *LLAMA_COMMIT;

// Native aborts. ggml_abort (a failed GGML_ASSERT, GGML_ABORT on a CUDA
// error) calls the abort callback with its message instead of printing it
// and a backtrace; the callback writes one marked line the client looks
// for, and the process then aborts as before. Go's SIGABRT handler would
// follow the message with a dump of every goroutine and the registers
// (whatever GOTRACEBACK says: a fatal signal always gets one), so the
// callback restores the default action first and the process dies of
// SIGABRT as a C program does.
static char cxr_abort_prefix[64];

static void cxr_on_abort(const char *msg) {
	fprintf(stderr, "\n%s%s\n", cxr_abort_prefix, msg ? msg : "");
	fflush(stderr);
#if !defined(_WIN32)
	struct sigaction sa;
	memset(&sa, 0, sizeof sa);
	sa.sa_handler = SIG_DFL;
	sigemptyset(&sa.sa_mask);
	sigaction(SIGABRT, &sa, NULL);
#endif
}

// The recent error-level messages of llama.cpp, ggml and mtmd, kept for the
// errors the runner reports; every message still goes on to the previous
// log callback (ollama's, which filters by the log level).
static pthread_mutex_t cxr_log_mu = PTHREAD_MUTEX_INITIALIZER;
static char cxr_errs[2048];
static size_t cxr_errs_len;
static int cxr_last_level;
static int cxr_hooked;
static ggml_log_callback cxr_prev_log;
static void *cxr_prev_log_data;

static void cxr_log(enum ggml_log_level level, const char *text, void *data) {
	(void)data;
	pthread_mutex_lock(&cxr_log_mu);
	if (level != GGML_LOG_LEVEL_CONT) cxr_last_level = level;
	if (cxr_last_level == GGML_LOG_LEVEL_ERROR && text) {
		size_t n = strlen(text), room = sizeof(cxr_errs) - 1;
		if (n > room) { text += n - room; n = room; }
		if (cxr_errs_len + n > room) {  // keep the newest text
			size_t drop = cxr_errs_len + n - room;
			memmove(cxr_errs, cxr_errs + drop, cxr_errs_len - drop);
			cxr_errs_len -= drop;
		}
		memcpy(cxr_errs + cxr_errs_len, text, n);
		cxr_errs_len += n;
		cxr_errs[cxr_errs_len] = 0;
	}
	ggml_log_callback prev = cxr_prev_log;
	void *prev_data = cxr_prev_log_data;
	pthread_mutex_unlock(&cxr_log_mu);
	if (prev) prev(level, text, prev_data);
	else fputs(text, stderr);
}

// cxr_take_errors copies the kept error text into buf and forgets it.
static void cxr_take_errors(char *buf, size_t len) {
	pthread_mutex_lock(&cxr_log_mu);
	snprintf(buf, len, "%s", cxr_errs);
	cxr_errs_len = 0;
	cxr_errs[0] = 0;
	pthread_mutex_unlock(&cxr_log_mu);
}

static void cxr_install_hooks(const char *abort_prefix) {
	if (cxr_hooked) return;
	cxr_hooked = 1;
	snprintf(cxr_abort_prefix, sizeof cxr_abort_prefix, "%s", abort_prefix);
	llama_log_get(&cxr_prev_log, &cxr_prev_log_data);
	llama_log_set(cxr_log, NULL);  // ggml's log in this binary too
	mtmd_log_set(cxr_log, NULL);
	ggml_set_abort_callback(cxr_on_abort);
#if !defined(_WIN32)
	// The backends ggml loads at run time (the CPU variants, CUDA) use the
	// copy of ggml-base in lib/ollama, which has its own log and abort
	// callbacks: a CUDA error aborts through that one.
	const char *names[] = {"libggml-base.so.0", "libggml-base.so", "libggml-base.dylib", NULL};
	for (int i = 0; names[i]; i++) {
		void *h = dlopen(names[i], RTLD_NOW | RTLD_NOLOAD);
		if (!h) continue;
		void (*set_log)(ggml_log_callback, void *) = (void (*)(ggml_log_callback, void *))dlsym(h, "ggml_log_set");
		ggml_abort_callback_t (*set_abort)(ggml_abort_callback_t) = (ggml_abort_callback_t (*)(ggml_abort_callback_t))dlsym(h, "ggml_set_abort_callback");
		if (set_log) set_log(cxr_log, NULL);
		if (set_abort) set_abort(cxr_on_abort);
		dlclose(h);  // only the reference RTLD_NOLOAD added
		break;
	}
#endif
}

static atomic_int cxr_abort_flag;

static bool cxr_abort_cb(void *data) {
	(void)data;
	return atomic_load_explicit(&cxr_abort_flag, memory_order_relaxed) != 0;
}

static void cxr_set_abort(int v) { atomic_store(&cxr_abort_flag, v); }

static void cxr_prepare_context(struct llama_context *ctx) {
	llama_set_abort_callback(ctx, cxr_abort_cb, NULL);
	llama_set_embeddings(ctx, false);
}

static mtmd_context *cxr_mtmd_init(const char *path, const struct llama_model *model, int threads, bool use_gpu) {
	struct mtmd_context_params p = mtmd_context_params_default();
	p.n_threads = threads;
	p.use_gpu = use_gpu;
	p.print_timings = false;
	p.warmup = use_gpu;  // reserves GPU buffers early; on CPU it would cost a whole encode
	return mtmd_init_from_file(path, model, p);
}

// cxr_encode encodes one RGB bitmap and returns a malloc'ed copy of its
// embeddings (n_tokens rows of n_embd floats), or NULL with *status set.
static float *cxr_encode(mtmd_context *ctx, const unsigned char *rgb, uint32_t nx, uint32_t ny,
                         int n_embd, int *n_tokens, int *status) {
	*n_tokens = 0;
	mtmd_bitmap *bm = mtmd_bitmap_init(nx, ny, rgb);
	if (!bm) { *status = 1; return NULL; }
	mtmd_input_text *txt = mtmd_input_text_init(mtmd_default_marker(), false, true);
	mtmd_input_chunks *chunks = mtmd_input_chunks_init();
	const mtmd_bitmap *bms[1] = { bm };
	float *out = NULL;
	int r = mtmd_tokenize(ctx, chunks, txt, bms, 1);
	if (r != 0) { *status = 10 + r; goto done; }
	*status = 2;
	for (size_t i = 0; i < mtmd_input_chunks_size(chunks); i++) {
		const mtmd_input_chunk *c = mtmd_input_chunks_get(chunks, i);
		if (mtmd_input_chunk_get_type(c) != MTMD_INPUT_CHUNK_TYPE_IMAGE) continue;
		if (mtmd_encode_chunk(ctx, c) != 0) { *status = 3; goto done; }
		float *e = mtmd_get_output_embd(ctx);
		size_t n = mtmd_input_chunk_get_n_tokens(c);
		if (!e || n == 0) { *status = 4; goto done; }
		out = (float *)malloc(n * (size_t)n_embd * sizeof(float));
		if (!out) { *status = 5; goto done; }
		memcpy(out, e, n * (size_t)n_embd * sizeof(float));
		*n_tokens = (int)n;
		*status = 0;
		break;
	}
done:
	mtmd_input_chunks_free(chunks);
	mtmd_input_text_free(txt);
	mtmd_bitmap_free(bm);
	return out;
}

static int cxr_piece(const struct llama_model *m, int token, char *buf, int len) {
	return llama_token_to_piece(llama_model_get_vocab(m), token, buf, len, 0, false);
}

static bool cxr_is_control(const struct llama_model *m, int token) {
	enum llama_token_attr a = llama_vocab_get_attr(llama_model_get_vocab(m), token);
	return (a & LLAMA_TOKEN_ATTR_CONTROL) != 0;
}

static const char *cxr_dev_name(size_t i) { return ggml_backend_dev_name(ggml_backend_dev_get(i)); }
static const char *cxr_dev_desc(size_t i) { return ggml_backend_dev_description(ggml_backend_dev_get(i)); }
static int cxr_dev_type(size_t i) { return (int)ggml_backend_dev_type(ggml_backend_dev_get(i)); }
static void cxr_dev_memory(size_t i, size_t *free, size_t *total) { ggml_backend_dev_memory(ggml_backend_dev_get(i), free, total); }

// cxr_dev_features lists a device's backend features ("AVX2", "1", ...) as
// name/value pairs; NULL-terminated.
static const struct ggml_backend_feature *cxr_dev_features(size_t i) {
	ggml_backend_reg_t reg = ggml_backend_dev_backend_reg(ggml_backend_dev_get(i));
	if (!reg) return NULL;
	ggml_backend_get_features_t fn = (ggml_backend_get_features_t)ggml_backend_reg_get_proc_address(reg, "ggml_backend_get_features");
	return fn ? fn(reg) : NULL;
}
static const struct ggml_backend_feature *cxr_feature_at(const struct ggml_backend_feature *f, int i) { return &f[i]; }
*/
import "C"

import (
	"errors"
	"fmt"
	"strings"
	"unsafe"

	"cxrview/engine"

	"github.com/ollama/ollama/llama"
)

// The llama package keeps its C pointers in unexported fields. Both Model
// and Context hold the pointer as their first field; Load checks the
// pointers against values the wrapper reports before using them.
func modelPtr(m *llama.Model) *C.struct_llama_model {
	return *(**C.struct_llama_model)(unsafe.Pointer(m))
}

func contextPtr(lc *llama.Context) *C.struct_llama_context {
	return *(**C.struct_llama_context)(unsafe.Pointer(lc))
}

// checkLayout verifies the pointer extraction on a live model and context.
// llama.cpp rounds the context up to a multiple of 256, so it holds at
// least nCtx positions.
func checkLayout(m *llama.Model, lc *llama.Context, nCtx int) error {
	if int(C.llama_model_n_embd(modelPtr(m))) != m.NEmbd() ||
		C.llama_get_model(contextPtr(lc)) != modelPtr(lc.Model()) ||
		int(C.llama_n_ctx(contextPtr(lc))) < nCtx {
		return errors.New("internal: the llama package's layout is not what this build expects")
	}
	return nil
}

func prepareContext(lc *llama.Context) { C.cxr_prepare_context(contextPtr(lc)) }

// freeContext frees a context; the wrapper has no Free and leaks about 1 GB
// per 7B context otherwise.
func freeContext(lc *llama.Context) { C.llama_free(contextPtr(lc)) }

func setAbort(on bool) {
	v := 0
	if on {
		v = 1
	}
	C.cxr_set_abort(C.int(v))
}

func llamaCommit() string { return C.GoString(C.LLAMA_COMMIT) }

// installNativeHooks sets the abort callback that marks a native abort
// in the log (engine.NativeAbortMarker) and the log hook behind
// nativeErrors, in this binary's ggml and in the one the backends use.
// Call it after the backends are loaded.
func installNativeHooks() {
	cs := C.CString(engine.NativeAbortMarker)
	defer C.free(unsafe.Pointer(cs))
	C.cxr_install_hooks(cs)
}

// nativeErrors returns the error-level messages llama.cpp, ggml and mtmd
// logged since the last call, one line each, and forgets them.
func nativeErrors() []string {
	var buf [2048]C.char
	C.cxr_take_errors(&buf[0], C.size_t(len(buf)))
	var out []string
	for _, l := range strings.Split(C.GoString(&buf[0]), "\n") {
		if l = strings.TrimSpace(l); l != "" {
			out = append(out, l)
		}
	}
	return out
}

// because gives a failure's reason from llama.cpp's error messages since
// the last call: ": message; message", or fallback when there are none.
func because(fallback string) string {
	if errs := nativeErrors(); len(errs) > 0 {
		return ": " + strings.Join(errs[max(0, len(errs)-3):], "; ")
	}
	return fallback
}

// vision is a projector context created with the settings the wrapper's
// NewMtmdContext fixes (4 threads, GPU always).
type vision struct{ c *C.mtmd_context }

func newVision(path string, m *llama.Model, threads int, useGPU bool) (*vision, error) {
	cp := C.CString(path)
	defer C.free(unsafe.Pointer(cp))
	c := C.cxr_mtmd_init(cp, modelPtr(m), C.int(threads), C.bool(useGPU))
	if c == nil {
		return nil, fmt.Errorf("llama.cpp could not load the projector %s%s", path, because(" (its log gives no reason)"))
	}
	return &vision{c: c}, nil
}

func (v *vision) free() {
	if v != nil && v.c != nil {
		C.mtmd_free(v.c)
		v.c = nil
	}
}

// encode runs the vision tower on an RGB image of exactly the projector's
// size (mtmd copies it unchanged then) and returns one row per image token.
func (v *vision) encode(rgb []byte, w, h, nEmbd int) ([][]float32, error) {
	if len(rgb) != w*h*3 || w <= 0 || h <= 0 {
		return nil, fmt.Errorf("image buffer of %d bytes for %dx%d", len(rgb), w, h)
	}
	var n, status C.int
	out := C.cxr_encode(v.c, (*C.uchar)(unsafe.Pointer(&rgb[0])), C.uint32_t(w), C.uint32_t(h), C.int(nEmbd), &n, &status)
	if out == nil {
		return nil, fmt.Errorf("llama.cpp could not encode the image: %s%s", encodeStatus(int(status)), because(""))
	}
	defer C.free(unsafe.Pointer(out))
	flat := unsafe.Slice((*float32)(unsafe.Pointer(out)), int(n)*nEmbd)
	rows := make([][]float32, n)
	all := make([]float32, len(flat))
	copy(all, flat)
	for i := range rows {
		rows[i] = all[i*nEmbd : (i+1)*nEmbd]
	}
	return rows, nil
}

// encodeStatus says in words what cxr_encode's status code means.
func encodeStatus(status int) string {
	switch status {
	case 1:
		return "the bitmap could not be made"
	case 11:
		return "mtmd found no place for the image in its prompt"
	case 12:
		return "mtmd could not preprocess the image"
	case 2:
		return "mtmd returned no image chunk"
	case 3:
		return "the vision encoder failed"
	case 4:
		return "the vision encoder returned no embeddings"
	case 5:
		return "out of memory for the embeddings"
	}
	return fmt.Sprintf("mtmd status %d", status)
}

// piece returns a token's text without rendering control tokens, as the
// reference decodes with skip_special_tokens.
func piece(m *llama.Model, token int) []byte {
	if C.cxr_is_control(modelPtr(m), C.int(token)) {
		return nil
	}
	buf := make([]byte, 32)
	n := int(C.cxr_piece(modelPtr(m), C.int(token), (*C.char)(unsafe.Pointer(&buf[0])), C.int(len(buf))))
	if n < 0 {
		buf = make([]byte, -n)
		n = int(C.cxr_piece(modelPtr(m), C.int(token), (*C.char)(unsafe.Pointer(&buf[0])), C.int(len(buf))))
	}
	if n < 0 {
		return nil
	}
	return buf[:n]
}

// deviceInfo is one ggml device as the shim sees it.
type deviceInfo struct {
	name, desc string
	kind       int // 0 CPU, 1 GPU, 2 iGPU, 3 accelerator
	free       uint64
	total      uint64
	features   [][2]string
}

func devices() []deviceInfo {
	n := int(C.ggml_backend_dev_count())
	out := make([]deviceInfo, 0, n)
	for i := 0; i < n; i++ {
		var free, total C.size_t
		C.cxr_dev_memory(C.size_t(i), &free, &total)
		d := deviceInfo{
			name:  C.GoString(C.cxr_dev_name(C.size_t(i))),
			desc:  C.GoString(C.cxr_dev_desc(C.size_t(i))),
			kind:  int(C.cxr_dev_type(C.size_t(i))),
			free:  uint64(free),
			total: uint64(total),
		}
		if f := C.cxr_dev_features(C.size_t(i)); f != nil {
			for j := 0; ; j++ {
				e := C.cxr_feature_at(f, C.int(j))
				if e.name == nil {
					break
				}
				d.features = append(d.features, [2]string{C.GoString(e.name), C.GoString(e.value)})
			}
		}
		out = append(out, d)
	}
	return out
}
