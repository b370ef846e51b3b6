// The echo and sessions measurements of loadgen.mjs as a small C program, with the same
// checks, windows and results.
//
// Why C: on a 2-core machine the load generator and the server share the CPU. loadgen.mjs in Node
// needs nearly a core for what it sends (for sessions, a net.Socket with its streams, timers and
// promises per connection: about as much CPU as the server it measures), so the figures measured
// the load generator as much as the server. This loop does the same work in a few system calls
// and no allocation per message or session, and leaves the CPU to the server.
//
// It shares no code with the servers it measures, as loadgen.mjs: the fixed Sec-WebSocket-Key of
// RFC 6455 §1.3 (and the Accept derived from it), frames masked once with the §5.7 example key,
// and a reader that only decodes FIN, opcode and payload length.
//
//   loadgen echo|sessions <port> <path> <connections> <warmup ms> <duration ms> <size>
//           binary|text <timeout ms> [server pid]
//
// echo: opens <connections> connections; once all are open, each keeps one message of <size>
//   bytes in flight: send, wait for the echo, send the next. Counts the round trips that finish in
//   the window of <duration ms> after <warmup ms>, then each connection finishes its round trip
//   and closes.
// sessions: <connections> loops of connect, opening handshake, one echo, closing handshake (a
//   masked Close frame, then the server's Close frame and the end of TCP, which RFC 6455 §7.1.1
//   asks the server to close first). Counts the sessions that finish in the window; the ones in
//   flight at its end finish too.
//
// Prints one line of JSON: {"roundTrips" or "sessions": N, "durationMs", ["p50Ms", "p99Ms",]
// "loadgenCpu": cores, ["serverCpu": cores]}. When nothing happens for <timeout ms> on a connection,
// or anything unexpected does, prints `connection N: <what happened>` on stderr and exits with 1.

#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define MAX_PAYLOAD (64 * 1024)
#define MAX_FRAME (MAX_PAYLOAD + 14)
#define MAX_HEAD (16 * 1024)
#define BUFFER_SIZE (MAX_FRAME + MAX_HEAD)
#define MAX_SAMPLES (1 << 20) // beyond it, reservoir sampling keeps a uniform subset

static const char KEY[] = "dGhlIHNhbXBsZSBub25jZQ==";
static const char ACCEPT[] = "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=";
static const unsigned char MASKING_KEY[4] = {0x37, 0xfa, 0x21, 0x3d};

enum state { CONNECTING, HANDSHAKE, OPEN, CLOSING, END_OF_TCP, DONE };
static const char *const WAITING_FOR[] = {
    "the TCP connection", "the handshake response", "the echo", "the Close frame",
    "the end of TCP from the server", "nothing"};

struct slot {
  int fd;
  enum state state;
  unsigned long index; // which connection, from 1, for error messages
  double deadline;     // ms on the monotonic clock: no progress by then is a failure
  double sent_at;
  size_t length; // bytes in buffer
  unsigned char *buffer;
  const unsigned char *out; // a write the socket did not take whole
  size_t out_length;
  size_t out_offset;
};

static int is_echo;
static struct sockaddr_in address;
static char request[1024];
static size_t request_length;
static unsigned char frame[MAX_FRAME];
static size_t frame_length;
static int opcode;
static unsigned char close_frame[8];
static size_t close_frame_length;
static size_t payload_size;
static double timeout_ms;
static int epoll_fd;
static unsigned long started;

// The window, set when it is known (for echo, once every connection is open).
static double measure_from = -1;
static double stop_at = -1;
static unsigned long counted;
static double *samples;
static unsigned long sample_count;
static uint64_t random_state = 0x9e3779b97f4a7c15ull;

static double now_ms(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return t.tv_sec * 1e3 + t.tv_nsec / 1e6;
}

static void fail(const struct slot *slot, const char *format, ...) {
  va_list args;
  va_start(args, format);
  fprintf(stderr, "connection %lu: ", slot->index);
  vfprintf(stderr, format, args);
  fputc('\n', stderr);
  va_end(args);
  exit(1);
}

// A masked client frame with FIN set (RFC 6455 §5.2), into out; returns its length.
static size_t masked_frame(unsigned char *out, int op, const unsigned char *payload,
                           size_t length) {
  size_t n = 0;
  out[n++] = 0x80 | op;
  if (length < 126) {
    out[n++] = 0x80 | length;
  } else if (length < 65536) {
    out[n++] = 0x80 | 126;
    out[n++] = length >> 8;
    out[n++] = length & 0xff;
  } else {
    out[n++] = 0x80 | 127;
    for (int shift = 56; shift >= 0; shift -= 8) out[n++] = (unsigned char)((uint64_t)length >> shift);
  }
  memcpy(out + n, MASKING_KEY, 4);
  n += 4;
  for (size_t i = 0; i < length; i++) out[n + i] = payload[i] ^ MASKING_KEY[i & 3];
  return n + length;
}

static void watch(struct slot *slot, int op, unsigned events) {
  struct epoll_event event = {.events = events, .data = {.ptr = slot}};
  if (epoll_ctl(epoll_fd, op, slot->fd, &event) != 0) fail(slot, "epoll_ctl: %s", strerror(errno));
}

// Writes what the socket takes; the rest waits for EPOLLOUT.
static void flush(struct slot *slot) {
  while (slot->out_offset < slot->out_length) {
    ssize_t n = write(slot->fd, slot->out + slot->out_offset, slot->out_length - slot->out_offset);
    if (n < 0) {
      if (errno == EINTR) continue;
      if (errno == EAGAIN) return;
      fail(slot, "write while waiting for %s: %s", WAITING_FOR[slot->state], strerror(errno));
    }
    slot->out_offset += n;
  }
}

static void send_bytes(struct slot *slot, const unsigned char *data, size_t length) {
  slot->out = data;
  slot->out_length = length;
  slot->out_offset = 0;
  flush(slot);
  if (slot->out_offset < slot->out_length) watch(slot, EPOLL_CTL_MOD, EPOLLIN | EPOLLOUT);
}

static void start_connection(struct slot *slot) {
  slot->index = ++started;
  slot->length = 0;
  slot->out_offset = slot->out_length = 0;
  slot->deadline = now_ms() + timeout_ms;
  slot->fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (slot->fd < 0) fail(slot, "socket: %s", strerror(errno));
  int one = 1;
  setsockopt(slot->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  if (connect(slot->fd, (struct sockaddr *)&address, sizeof address) != 0 && errno != EINPROGRESS) {
    fail(slot, "connect: %s", strerror(errno));
  }
  slot->state = CONNECTING;
  watch(slot, EPOLL_CTL_ADD, EPOLLOUT);
}

static void send_message(struct slot *slot) {
  slot->sent_at = now_ms();
  send_bytes(slot, frame, frame_length);
}

static void send_close(struct slot *slot) {
  slot->state = CLOSING;
  send_bytes(slot, close_frame, close_frame_length);
}

static void record(double rtt_ms) {
  if (sample_count < MAX_SAMPLES) {
    samples[sample_count++] = rtt_ms;
    return;
  }
  // Reservoir sampling (xorshift64 is plenty for picking a slot).
  random_state ^= random_state << 13;
  random_state ^= random_state >> 7;
  random_state ^= random_state << 17;
  unsigned long kept = random_state % ++sample_count;
  if (kept < MAX_SAMPLES) samples[kept] = rtt_ms;
}

static void on_message(struct slot *slot, int fin, int op, uint64_t length) {
  if (slot->state != OPEN || !fin || op != opcode || length != payload_size) {
    fail(slot, "unexpected message (opcode %d, fin %d, %llu bytes) while waiting for %s", op,
         fin != 0, (unsigned long long)length, WAITING_FOR[slot->state]);
  }
  double now = now_ms();
  if (!is_echo) {
    send_close(slot);
    return;
  }
  if (now >= measure_from && now < stop_at) {
    counted++;
    record(now - slot->sent_at);
  }
  if (now < stop_at) {
    send_message(slot);
  } else {
    send_close(slot);
  }
}

// The server's frames in slot->buffer: acts on each whole frame, keeps a partial one.
static void read_frames(struct slot *slot) {
  size_t offset = 0;
  while (slot->length - offset >= 2) {
    const unsigned char *p = slot->buffer + offset;
    size_t available = slot->length - offset;
    int fin = p[0] & 0x80;
    int op = p[0] & 0x0f;
    if (p[1] & 0x80) fail(slot, "the server sent a masked frame");
    uint64_t length = p[1] & 0x7f;
    size_t header = 2;
    if (length == 126) {
      if (available < 4) break;
      length = ((uint64_t)p[2] << 8) | p[3];
      header = 4;
    } else if (length == 127) {
      if (available < 10) break;
      length = 0;
      for (int i = 2; i < 10; i++) length = (length << 8) | p[i];
      header = 10;
    }
    if (length > MAX_PAYLOAD) fail(slot, "a frame of %llu bytes", (unsigned long long)length);
    if (available < header + length) break;
    offset += header + length;
    if (op == 0x9 || op == 0xa) continue; // pings and pongs: not part of the measurement
    if (op == 0x8) {
      if (slot->state != CLOSING) {
        fail(slot, "the server closed while waiting for %s", WAITING_FOR[slot->state]);
      }
      int code = length >= 2 ? (p[header] << 8) | p[header + 1] : 1005;
      if (code != 1000) fail(slot, "the server closed with %d", code);
      slot->state = END_OF_TCP;
      continue;
    }
    on_message(slot, fin, op, length);
  }
  memmove(slot->buffer, slot->buffer + offset, slot->length - offset);
  slot->length -= offset;
}

// The opening handshake response: a 101 with the Accept that RFC 6455 §1.3 derives from KEY.
// Returns 1 once it has been read whole.
static int read_handshake(struct slot *slot) {
  unsigned char *end = memmem(slot->buffer, slot->length, "\r\n\r\n", 4);
  if (end == NULL) {
    if (slot->length >= MAX_HEAD) fail(slot, "a response head over %d bytes", MAX_HEAD);
    return 0;
  }
  size_t head_length = end + 4 - slot->buffer;
  if (slot->length < 12 || memcmp(slot->buffer, "HTTP/1.1 101", 12) != 0) {
    const unsigned char *status_end = memchr(slot->buffer, '\r', head_length);
    fail(slot, "expected a 101 response, got: %.*s", (int)(status_end - slot->buffer), slot->buffer);
  }
  int accepted = 0;
  const char *line = (const char *)slot->buffer;
  const char *head_end = (const char *)end;
  while (line < head_end) {
    const char *eol = memmem(line, head_end + 2 - line, "\r\n", 2);
    if (eol - line > 21 && strncasecmp(line, "sec-websocket-accept:", 21) == 0) {
      const char *value = line + 21;
      while (*value == ' ' || *value == '\t') value++;
      size_t n = eol - value;
      while (n > 0 && (value[n - 1] == ' ' || value[n - 1] == '\t')) n--;
      accepted = n == strlen(ACCEPT) && memcmp(value, ACCEPT, n) == 0;
    }
    line = eol + 2;
  }
  if (!accepted) fail(slot, "the 101 response lacks Sec-WebSocket-Accept: %s", ACCEPT);
  memmove(slot->buffer, slot->buffer + head_length, slot->length - head_length);
  slot->length -= head_length;
  slot->state = OPEN;
  return 1;
}

// Returns 1 when the connection has just opened, 2 when it has ended (the server closed TCP after
// the closing handshake), else 0.
static int on_event(struct slot *slot, unsigned events) {
  if (slot->state == CONNECTING) {
    int error = 0;
    socklen_t size = sizeof error;
    getsockopt(slot->fd, SOL_SOCKET, SO_ERROR, &error, &size);
    if (error != 0) fail(slot, "connect: %s", strerror(error));
    slot->state = HANDSHAKE;
    watch(slot, EPOLL_CTL_MOD, EPOLLIN);
    send_bytes(slot, (const unsigned char *)request, request_length);
    return 0;
  }
  if (events & EPOLLOUT) {
    flush(slot);
    if (slot->out_offset == slot->out_length) watch(slot, EPOLL_CTL_MOD, EPOLLIN);
  }
  if (!(events & (EPOLLIN | EPOLLHUP | EPOLLERR))) return 0;
  ssize_t n = read(slot->fd, slot->buffer + slot->length, BUFFER_SIZE - slot->length);
  if (n < 0) {
    if (errno == EAGAIN || errno == EINTR) return 0;
    fail(slot, "read while waiting for %s: %s", WAITING_FOR[slot->state], strerror(errno));
  }
  slot->deadline = now_ms() + timeout_ms;
  if (n == 0) {
    if (slot->state != END_OF_TCP || slot->length != 0) {
      fail(slot, "the server dropped the connection while waiting for %s", WAITING_FOR[slot->state]);
    }
    close(slot->fd); // also takes it out of the epoll set
    slot->fd = -1;
    slot->state = DONE;
    return 2;
  }
  slot->length += n;
  if (slot->state == HANDSHAKE) {
    if (!read_handshake(slot)) return 0;
    if (is_echo) return 1; // the first message waits until every connection is open
    send_message(slot);
  }
  read_frames(slot);
  return 0;
}

static double cpu_seconds_of(const char *pid) {
  if (pid == NULL) return 0;
  char path[64], text[4096];
  snprintf(path, sizeof path, "/proc/%s/stat", pid);
  FILE *file = fopen(path, "r");
  if (file == NULL) return 0;
  size_t n = fread(text, 1, sizeof text - 1, file);
  fclose(file);
  text[n] = 0;
  // utime and stime, fields 14 and 15, after the command name (in parentheses, may hold spaces).
  char *p = strrchr(text, ')');
  unsigned long utime = 0, stime = 0;
  if (p == NULL ||
      sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %lu %lu", &utime, &stime) != 2) {
    return 0;
  }
  return (double)(utime + stime) / sysconf(_SC_CLK_TCK);
}

static double own_cpu_seconds(void) {
  struct rusage usage;
  getrusage(RUSAGE_SELF, &usage);
  return usage.ru_utime.tv_sec + usage.ru_utime.tv_usec / 1e6 + usage.ru_stime.tv_sec +
         usage.ru_stime.tv_usec / 1e6;
}

static int compare_doubles(const void *a, const void *b) {
  double x = *(const double *)a, y = *(const double *)b;
  return (x > y) - (x < y);
}

// Nearest rank, as loadgen.mjs.
static double percentile(double p) {
  unsigned long n = sample_count < MAX_SAMPLES ? sample_count : MAX_SAMPLES;
  if (n == 0) return 0;
  long rank = (long)(p * n + 0.999999999) - 1;
  return samples[rank < 0 ? 0 : rank];
}

int main(int argc, char **argv) {
  if (argc < 10 || (strcmp(argv[1], "echo") != 0 && strcmp(argv[1], "sessions") != 0) ||
      (strcmp(argv[8], "binary") != 0 && strcmp(argv[8], "text") != 0)) {
    fprintf(stderr,
            "usage: %s echo|sessions <port> <path> <connections> <warmup ms> <duration ms> "
            "<size> binary|text <timeout ms> [server pid]\n",
            argv[0]);
    return 2;
  }
  is_echo = strcmp(argv[1], "echo") == 0;
  int port = atoi(argv[2]);
  const char *path = argv[3];
  int connections = atoi(argv[4]);
  double warmup_ms = atof(argv[5]);
  double duration_ms = atof(argv[6]);
  payload_size = strtoul(argv[7], NULL, 10);
  opcode = strcmp(argv[8], "text") == 0 ? 0x1 : 0x2;
  timeout_ms = atof(argv[9]);
  const char *server_pid = argc > 10 ? argv[10] : NULL;
  if (port <= 0 || port > 65535 || connections <= 0 || warmup_ms < 0 || duration_ms <= 0 ||
      timeout_ms <= 0 || payload_size > MAX_PAYLOAD || strlen(path) > 512) {
    fprintf(stderr, "loadgen: bad arguments (a size of at most %d bytes)\n", MAX_PAYLOAD);
    return 2;
  }

  address.sin_family = AF_INET;
  address.sin_port = htons(port);
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  request_length = snprintf(request, sizeof request,
                            "GET %s HTTP/1.1\r\nHost: 127.0.0.1:%d\r\nUpgrade: websocket\r\n"
                            "Connection: Upgrade\r\nSec-WebSocket-Key: %s\r\n"
                            "Sec-WebSocket-Version: 13\r\n\r\n",
                            path, port, KEY);
  unsigned char *payload = malloc(payload_size + 1);
  for (size_t i = 0; i < payload_size; i++) payload[i] = 'a' + i % 26; // valid UTF-8 as text
  frame_length = masked_frame(frame, opcode, payload, payload_size);
  free(payload);
  const unsigned char code[2] = {1000 >> 8, 1000 & 0xff};
  close_frame_length = masked_frame(close_frame, 0x8, code, 2);
  samples = malloc(sizeof *samples * MAX_SAMPLES);

  epoll_fd = epoll_create1(EPOLL_CLOEXEC);
  struct slot *slots = calloc(connections, sizeof *slots);
  for (int i = 0; i < connections; i++) {
    slots[i].buffer = malloc(BUFFER_SIZE);
    start_connection(&slots[i]);
  }
  if (!is_echo) {
    measure_from = now_ms() + warmup_ms;
    stop_at = measure_from + duration_ms;
  }
  int opened = 0;
  int active = connections;
  int measuring = 0;
  double own_start = 0, server_start = 0, own_cpu = 0, server_cpu = 0, window_start = 0, wall = 1;
  struct epoll_event events[256];

  while (active > 0) {
    int n = epoll_wait(epoll_fd, events, 256, 20);
    if (n < 0 && errno != EINTR) {
      perror("epoll_wait");
      return 1;
    }
    for (int i = 0; i < n; i++) {
      struct slot *slot = events[i].data.ptr;
      int happened = on_event(slot, events[i].events);
      if (happened == 1 && ++opened == connections) {
        // Every connection is open: the echo window starts now.
        measure_from = now_ms() + warmup_ms;
        stop_at = measure_from + duration_ms;
        for (int j = 0; j < connections; j++) send_message(&slots[j]);
      } else if (happened == 2) {
        double now = now_ms();
        if (!is_echo && now >= measure_from && now < stop_at) counted++;
        if (!is_echo && now < stop_at) {
          start_connection(slot);
        } else {
          active--;
        }
      }
    }
    double now = now_ms();
    if (measuring == 0 && measure_from >= 0 && now >= measure_from) {
      measuring = 1;
      window_start = now;
      own_start = own_cpu_seconds();
      server_start = cpu_seconds_of(server_pid);
    }
    if (measuring == 1 && now >= stop_at) {
      measuring = 2;
      wall = (now - window_start) / 1e3;
      own_cpu = own_cpu_seconds() - own_start;
      server_cpu = cpu_seconds_of(server_pid) - server_start;
    }
    for (int i = 0; i < connections; i++) {
      if (slots[i].state != DONE && now > slots[i].deadline) {
        fail(&slots[i], "nothing for %.0f ms while waiting for %s", timeout_ms,
             WAITING_FOR[slots[i].state]);
      }
    }
  }
  if (measuring < 2) {
    fprintf(stderr, "loadgen: the window never ended\n");
    return 1;
  }
  printf("{\"%s\":%lu,\"durationMs\":%.0f", is_echo ? "roundTrips" : "sessions", counted,
         duration_ms);
  if (is_echo) {
    unsigned long kept = sample_count < MAX_SAMPLES ? sample_count : MAX_SAMPLES;
    qsort(samples, kept, sizeof *samples, compare_doubles);
    printf(",\"p50Ms\":%.4f,\"p99Ms\":%.4f", percentile(0.5), percentile(0.99));
  }
  printf(",\"loadgenCpu\":%.4f", own_cpu / wall);
  if (server_pid != NULL) printf(",\"serverCpu\":%.4f", server_cpu / wall);
  printf("}\n");
  return 0;
}
