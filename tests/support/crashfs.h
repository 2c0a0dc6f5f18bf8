/*
 * crashfs.h - a recording ss_io, and the on-disk states a crash could leave
 * after any prefix of what it recorded (in the style of ALICE and
 * CrashMonkey).
 *
 * Recording. crashfs_init(c, root) models the directory root: the regular
 * files already in it are its initial, durable state. The engine is then
 * handed &c->io, which passes every call through to the real file system and
 * records it with what is needed to replay it: open (a file created, or
 * truncated by O_TRUNC), pwrite (offset and bytes), ftruncate, fdatasync and
 * fsync (of a file or of root itself), rename, unlink, close. Files are
 * tracked by inode, not by name: a rename moves the inode, and an fd keeps
 * writing to its inode after the name was renamed over or unlinked. Calls on
 * paths outside root (say, an fsync of root's parent) are recorded but change
 * nothing in the model. Failed calls are recorded and change nothing.
 *
 * Subdirectories of root, one level deep (a BACKUP's DIR.partial): a
 * directory is an inode too, its entry in root made by a mkdir and moved by
 * a rename like a file's; its own entries (files only) are kept as
 * "#<its inode>/<name>", so that they move with it. mkdir is not in the
 * engine's I/O table (it is not a call the engine could fail and recover
 * from in any other way than the next call failing), so the model records
 * one, CRASHFS_MKDIR, when a file is first created in a directory it does
 * not know: the engine creates each such directory only to create a file in
 * it at once. Nothing reads the directory in between, and a crash state in
 * which it persisted empty is generated from that recorded mkdir all the
 * same. rmdir (a failed backup's clean-up) is not modeled: the workloads
 * that use subdirectories do not fail.
 *
 * Crash states. Crash point k means "the first k recorded calls happened,
 * then the power went". What persists:
 *   - per inode, its data and size as of its last fdatasync/fsync before k;
 *   - root's entries as of its last fsync before k (creations, renames and
 *     unlinks made before it), and each subdirectory's as of its own;
 *   - and then any subset of the calls not yet made durable, each one on its
 *     own ("a unit"): an entry change (create, mkdir, rename, unlink), a truncation
 *     (ftruncate, O_TRUNC), and each piece of a pwrite, a piece being the
 *     part of the write inside one chunk-aligned block of the file (512 or
 *     4096 bytes: a sector or a page). Persisted units are applied in call
 *     order. A write piece that did not persist leaves the block's earlier
 *     content: what earlier persisted calls left, zeros in a hole, or nothing
 *     past the file's size. So a rename may persist while the data it names
 *     does not, and a write may be torn into any subset of its pieces, not
 *     only a prefix.
 * With U units a crash point has up to 2^U states. crashfs_iter enumerates
 * them all when 2^U is within a bound, and otherwise samples that many
 * (deterministically from a seed), always including "all persisted" and
 * "none persisted". Different unit choices often give byte-identical
 * states: crashfs_image_hash lets a caller check each distinct one once.
 *
 * Recording is crashfs.c; crash points, states and their iteration are
 * crashstate.c.
 *
 * A subdirectory's entries are in a state only if its entry in root is: a
 * file persisted in a directory that did not is out of reach, as on disk.
 *
 * Not modeled: file data that persists without the write having been
 * issued (garbage), reordering inside one piece, directories below root's
 * subdirectories, renames inside a subdirectory, root's LOCK file (never
 * synced, read back only as a hint), and metadata such as modes and times.
 */
#ifndef STATESTORED_CRASHFS_H
#define STATESTORED_CRASHFS_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "statestored/io.h"

enum crashfs_kind {
	CRASHFS_OPEN,
	CRASHFS_CLOSE,
	CRASHFS_PWRITE,
	CRASHFS_FTRUNCATE,
	CRASHFS_FDATASYNC,
	CRASHFS_FSYNC,
	CRASHFS_RENAME,
	CRASHFS_UNLINK,
	CRASHFS_MKDIR, /* recorded by the model, not an io call: crashfs.h */
};

/* One recorded call. ino is the modeled inode it acted on (0 is root, -1 is
 * nothing modeled); an inode's first name is in crashfs_ino_name. */
struct crashfs_op {
	enum crashfs_kind kind;
	int failed;   /* the real call failed: no effect */
	int fd;       /* open (its result), close, pwrite, ftruncate, syncs */
	int ino;      /* the inode written, truncated, synced; -1: none */
	int old_ino;  /* rename, unlink: the inode the target name lost; -1 */
	int created;  /* open: created name -> ino in its directory */
	int dir;      /* the directory whose entries an entry change changes
		       * (0: root, else a subdirectory's inode) */
	int truncated; /* open: O_TRUNC of an inode that existed */
	char *name;   /* open, unlink, mkdir: the entry's name (a subdirectory's
		       * file: "#<ino>/<name>"); rename: from; others:
		       * the inode's name when the call was made */
	char *name2;  /* rename: to */
	off_t off;    /* pwrite */
	size_t len;   /* pwrite: bytes written */
	char *data;   /* pwrite */
	off_t size;   /* ftruncate */
};

struct crashfs_entry {
	char *name;
	int ino;
};

struct crashfs_blob {
	char *buf;
	size_t len;
};

#define CRASHFS_FD_MAX 1024

struct crashfs {
	struct ss_io io; /* hand &c->io to the engine; io.ctx is c */
	char *root;
	struct crashfs_op *ops;
	size_t nops, opcap;
	int nino;              /* inodes 0 (root) .. nino-1 */
	char **ino_name;       /* per inode: its first name */
	unsigned char *ino_dir; /* per inode: 1 if it is a subdirectory */
	/* The initial (durable) state. */
	struct crashfs_entry *init;
	size_t ninit;
	struct crashfs_blob *init_data; /* per inode; empty for later ones */
	/* The live view, for resolving names and fds while recording. */
	struct crashfs_entry *live;
	size_t nlive;
	int fd_ino[CRASHFS_FD_MAX]; /* -1: not a modeled inode */
};

/* Starts recording root, an existing directory, whose regular files are the
 * durable initial state. */
void crashfs_init(struct crashfs *c, const char *root);
void crashfs_free(struct crashfs *c);
/* Number of calls recorded so far: a crash point. */
size_t crashfs_nops(const struct crashfs *c);
/* Name of inode ino when it was first seen ("statestored.log"). */
const char *crashfs_ino_name(const struct crashfs *c, int ino);
/* A short description of op i, e.g. "pwrite statestored.log @18+9120". */
void crashfs_op_describe(const struct crashfs *c, size_t i, char *buf, size_t size);

/* One persistable unit of a crash point: a whole call, or one piece
 * [off, off + len) of a pwrite's bytes. */
struct crashfs_unit {
	size_t op;
	size_t off, len; /* within the op's data; pwrite only */
};

/* Crash point k of a recording, ready to materialize states from. */
struct crashfs_point {
	const struct crashfs *c;
	size_t k;
	size_t chunk;
	struct crashfs_entry *dur;      /* root's durable entries */
	size_t ndur;
	struct crashfs_blob *dur_data;  /* per inode: durable content */
	struct crashfs_unit *units;
	size_t nunits;
};

void crashfs_point_init(struct crashfs_point *pt, const struct crashfs *c, size_t k,
			size_t chunk);
void crashfs_point_free(struct crashfs_point *pt);

/* One possible on-disk state: root's files and their contents. A
 * subdirectory is an entry "name/" (its data empty) and its files
 * "name/file", after it in the order. */
struct crashfs_image {
	struct crashfs_entry *ent; /* sorted by name */
	struct crashfs_blob *data; /* parallel to ent */
	size_t n;
};

/* Builds the state in which unit i persisted iff on[i] (on may be NULL:
 * nothing beyond the durable state). */
void crashfs_image_build(struct crashfs_image *img, const struct crashfs_point *pt,
			 const unsigned char *on);
void crashfs_image_free(struct crashfs_image *img);
uint64_t crashfs_image_hash(const struct crashfs_image *img);
/* Makes dir (existing) hold exactly img's files. */
void crashfs_image_write(const struct crashfs_image *img, const char *dir);
/* 1 if dir holds exactly img's regular files with img's contents. */
int crashfs_image_matches(const struct crashfs_image *img, const char *dir);

/* Describes a state compactly: each pending call, "persisted", "lost" or,
 * for a write, the pieces that persisted ("torn 0,3-5/9"). malloc'd. */
char *crashfs_state_describe(const struct crashfs_point *pt, const unsigned char *on);

/* The states of one crash point: all 2^U when that is at most max, else
 * max samples from seed (the first two being all-persisted and
 * none-persisted). */
struct crashfs_iter {
	const struct crashfs_point *pt;
	size_t max, done;
	int exhaustive;
	uint64_t total; /* 2^U, or UINT64_MAX if larger */
	uint64_t rng;
};

void crashfs_iter_init(struct crashfs_iter *it, const struct crashfs_point *pt, size_t max,
		       uint64_t seed);
/* Fills on[0..pt->nunits) with the next state and returns 1, or 0 at the
 * end. */
int crashfs_iter_next(struct crashfs_iter *it, unsigned char *on);

/* A pass-through io that skips fdatasync and fsync: for opening crash
 * states, whose durability does not matter, fast. */
extern const struct ss_io crashfs_nosync_io;

#endif
