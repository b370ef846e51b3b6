// The sessions measurement of bench/loadgen.mjs as a small C program. A session is: connect,
// opening handshake, one echo, closing handshake (a masked Close frame, then the server's Close
// frame and the end of TCP, which RFC 6455 §7.1.1 asks the server to close first).
//
// Why C: on a 2-core machine the load generator and the server share the CPU, and opening a TCP
// connection costs a Node process about as much as it costs the server it measures (a net.Socket,
// its streams, timers and promises per session). The sessions figure then measures the load
// generator. This loop does the same work with a few system calls per session and no per-session
// allocation, so that the server is what runs out of CPU.
//
// It shares no code with the servers it measures, as loadgen.mjs: the fixed Sec-WebSocket-Key of
// RFC 6455 §1.3 (and the Accept derived from it), frames masked once with the §5.7 example key,
// and a reader that only decodes FIN, opcode and payload length.
//
//   sessions <port> <path> <concurrency> <warmup ms> <duration ms> <size> <timeout ms> [server pid]
//
// Counts the sessions that finish in the window of <duration ms> after <warmup ms>, lets the ones
// in flight finish, and prints one line of JSON:
//   {"sessions":N,"durationMs":D,"loadgenCpu":cores,"serverCpu":cores}
// On any failure it prints `session N: <what happened>` on stderr and exits with 1.

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

#define MAX_FRAME (64 * 1024 + 14)
#define MAX_HEAD (16 * 1024)
#define BUFFER_SIZE (MAX_FRAME + MAX_HEAD)

static const char KEY[] = "dGhlIHNhbXBsZSBub25jZQ==";
static const char ACCEPT[] = "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=";
static const unsigned char MASKING_KEY[4] = {0x37, 0xfa, 0x21, 0x3d};

enum state { CONNECTING, HANDSHAKE, ECHO, CLOSING, END_OF_TCP };
static const char *const WAITING_FOR[] = {
    "the TCP connection", "the handshake response", "the echo", "the Close frame",
    "the end of TCP from the server"};

struct slot {
  int fd;
  enum state state;
  unsigned long index; // which session, from 1, for error messages
  double deadline;     // ms on the monotonic clock
  size_t length;       // bytes in buffer
  unsigned char *buffer;
};

static struct sockaddr_in address;
static char request[1024];
static size_t request_length;
static unsigned char frame[MAX_FRAME];
static size_t frame_length;
static unsigned char close_frame[8];
static size_t close_frame_length;
static size_t payload_size;
static double timeout_ms;
static int epoll_fd;
static unsigned long started;

static double now_ms(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return t.tv_sec * 1e3 + t.tv_nsec / 1e6;
}

static void fail(const struct slot *slot, const char *format, ...) {
  va_list args;
  va_start(args, format);
  fprintf(stderr, "session %lu: ", slot->index);
  vfprintf(stderr, format, args);
  fputc('\n', stderr);
  va_end(args);
  exit(1);
}

// A masked client frame with FIN set (RFC 6455 §5.2), into out; returns its length.
static size_t masked_frame(unsigned char *out, int opcode, const unsigned char *payload,
                           size_t length) {
  size_t n = 0;
  out[n++] = 0x80 | opcode;
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

static void write_all(struct slot *slot, const void *data, size_t length) {
  // Every message here is far below the socket's send buffer: a short write means trouble.
  ssize_t n = write(slot->fd, data, length);
  if (n != (ssize_t)length) {
    fail(slot, "write returned %zd of %zu bytes (%s)", n, length, n < 0 ? strerror(errno) : "short");
  }
}

static void watch(struct slot *slot, int op, unsigned events) {
  struct epoll_event event = {.events = events, .data = {.ptr = slot}};
  if (epoll_ctl(epoll_fd, op, slot->fd, &event) != 0) fail(slot, "epoll_ctl: %s", strerror(errno));
}

static void start_session(struct slot *slot) {
  slot->index = ++started;
  slot->length = 0;
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

// The server's frames in slot->buffer: acts on each whole frame, keeps a partial one.
static void read_frames(struct slot *slot) {
  size_t offset = 0;
  while (slot->length - offset >= 2) {
    const unsigned char *p = slot->buffer + offset;
    size_t available = slot->length - offset;
    int fin = p[0] & 0x80;
    int opcode = p[0] & 0x0f;
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
    if (length > MAX_FRAME - header) fail(slot, "a frame of %llu bytes", (unsigned long long)length);
    if (available < header + length) break;
    offset += header + length;
    if (opcode == 0x9 || opcode == 0xa) continue; // pings and pongs: not ours to answer here
    if (opcode == 0x8) {
      if (slot->state != CLOSING) fail(slot, "the server closed while waiting for %s", WAITING_FOR[slot->state]);
      int code = length >= 2 ? (p[header] << 8) | p[header + 1] : 1005;
      if (code != 1000) fail(slot, "the server closed with %d", code);
      slot->state = END_OF_TCP;
      continue;
    }
    if (slot->state != ECHO || !fin || opcode != 0x2 || length != payload_size) {
      fail(slot, "unexpected message (opcode %d, fin %d, %llu bytes) while waiting for %s", opcode,
           fin != 0, (unsigned long long)length, WAITING_FOR[slot->state]);
    }
    write_all(slot, close_frame, close_frame_length);
    slot->state = CLOSING;
  }
  memmove(slot->buffer, slot->buffer + offset, slot->length - offset);
  slot->length -= offset;
}

// The opening handshake response: a 101 with the Accept that RFC 6455 §1.3 derives from KEY.
static void read_handshake(struct slot *slot) {
  unsigned char *end = memmem(slot->buffer, slot->length, "\r\n\r\n", 4);
  if (end == NULL) {
    if (slot->length >= MAX_HEAD) fail(slot, "a response head over %d bytes", MAX_HEAD);
    return;
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
    size_t n = eol - line;
    if (n > 21 && strncasecmp(line, "sec-websocket-accept:", 21) == 0) {
      const char *value = line + 21;
      while (*value == ' ' || *value == '\t') value++;
      size_t value_length = eol - value;
      while (value_length > 0 && (value[value_length - 1] == ' ' || value[value_length - 1] == '\t')) value_length--;
      accepted = value_length == strlen(ACCEPT) && memcmp(value, ACCEPT, value_length) == 0;
    }
    line = eol + 2;
  }
  if (!accepted) fail(slot, "the 101 response lacks Sec-WebSocket-Accept: %s", ACCEPT);
  memmove(slot->buffer, slot->buffer + head_length, slot->length - head_length);
  slot->length -= head_length;
  slot->state = ECHO;
  write_all(slot, frame, frame_length);
  read_frames(slot);
}

// Returns 1 when the session has ended (the server closed TCP after the closing handshake).
static int on_event(struct slot *slot, unsigned events) {
  if (slot->state == CONNECTING) {
    int error = 0;
    socklen_t size = sizeof error;
    getsockopt(slot->fd, SOL_SOCKET, SO_ERROR, &error, &size);
    if (error != 0) fail(slot, "connect: %s", strerror(error));
    write_all(slot, request, request_length);
    slot->state = HANDSHAKE;
    watch(slot, EPOLL_CTL_MOD, EPOLLIN);
    return 0;
  }
  if (!(events & (EPOLLIN | EPOLLHUP | EPOLLERR))) return 0;
  ssize_t n = read(slot->fd, slot->buffer + slot->length, BUFFER_SIZE - slot->length);
  if (n < 0) {
    if (errno == EAGAIN || errno == EINTR) return 0;
    fail(slot, "read while waiting for %s: %s", WAITING_FOR[slot->state], strerror(errno));
  }
  if (n == 0) {
    if (slot->state != END_OF_TCP || slot->length != 0) {
      fail(slot, "the server dropped the connection while waiting for %s", WAITING_FOR[slot->state]);
    }
    close(slot->fd); // also takes it out of the epoll set
    return 1;
  }
  slot->length += n;
  if (slot->state == HANDSHAKE) {
    read_handshake(slot);
  } else {
    read_frames(slot);
  }
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
  // The fields after the command name, which is in parentheses and may hold spaces.
  char *p = strrchr(text, ')');
  unsigned long utime = 0, stime = 0;
  if (p == NULL || sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %lu %lu", &utime, &stime) != 2) return 0;
  return (double)(utime + stime) / sysconf(_SC_CLK_TCK);
}

static double own_cpu_seconds(void) {
  struct rusage usage;
  getrusage(RUSAGE_SELF, &usage);
  return usage.ru_utime.tv_sec + usage.ru_utime.tv_usec / 1e6 + usage.ru_stime.tv_sec +
         usage.ru_stime.tv_usec / 1e6;
}

int main(int argc, char **argv) {
  if (argc < 8) {
    fprintf(stderr,
            "usage: %s <port> <path> <concurrency> <warmup ms> <duration ms> <size> <timeout ms> [server pid]\n",
            argv[0]);
    return 2;
  }
  int port = atoi(argv[1]);
  const char *path = argv[2];
  int concurrency = atoi(argv[3]);
  double warmup_ms = atof(argv[4]);
  double duration_ms = atof(argv[5]);
  payload_size = strtoul(argv[6], NULL, 10);
  timeout_ms = atof(argv[7]);
  const char *server_pid = argc > 8 ? argv[8] : NULL;
  if (port <= 0 || port > 65535 || concurrency <= 0 || duration_ms <= 0 || timeout_ms <= 0 ||
      payload_size > 65536 || strlen(path) > 512) {
    fprintf(stderr, "sessions: bad arguments\n");
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
  for (size_t i = 0; i < payload_size; i++) payload[i] = 'a' + i % 26;
  frame_length = masked_frame(frame, 0x2, payload, payload_size);
  free(payload);
  const unsigned char code[2] = {1000 >> 8, 1000 & 0xff};
  close_frame_length = masked_frame(close_frame, 0x8, code, 2);

  epoll_fd = epoll_create1(EPOLL_CLOEXEC);
  struct slot *slots = calloc(concurrency, sizeof *slots);
  for (int i = 0; i < concurrency; i++) {
    slots[i].buffer = malloc(BUFFER_SIZE);
    start_session(&slots[i]);
  }
  int active = concurrency;

  double begin = now_ms();
  double measure_from = begin + warmup_ms;
  double stop_at = measure_from + duration_ms;
  int measuring = 0;
  double own_start = 0, server_start = 0, own_cpu = 0, server_cpu = 0, window_start = 0, wall = 0;
  unsigned long completed = 0;
  struct epoll_event events[256];

  while (active > 0) {
    int n = epoll_wait(epoll_fd, events, 256, 20);
    if (n < 0 && errno != EINTR) {
      perror("epoll_wait");
      return 1;
    }
    double now = now_ms();
    if (!measuring && now >= measure_from) {
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
    for (int i = 0; i < n; i++) {
      struct slot *slot = events[i].data.ptr;
      if (!on_event(slot, events[i].events)) continue;
      now = now_ms();
      if (now >= measure_from && now < stop_at) completed++;
      if (now < stop_at) {
        start_session(slot);
      } else {
        slot->fd = -1;
        active--;
      }
    }
    for (int i = 0; i < concurrency; i++) {
      if (slots[i].fd >= 0 && now > slots[i].deadline) {
        fail(&slots[i], "no %s within %.0f ms", WAITING_FOR[slots[i].state], timeout_ms);
      }
    }
  }
  if (measuring < 2) {
    fprintf(stderr, "sessions: the window never ended\n");
    return 1;
  }
  printf("{\"sessions\":%lu,\"durationMs\":%.0f,\"loadgenCpu\":%.4f", completed, duration_ms,
         own_cpu / wall);
  if (server_pid != NULL) printf(",\"serverCpu\":%.4f", server_cpu / wall);
  printf("}\n");
  return 0;
}
