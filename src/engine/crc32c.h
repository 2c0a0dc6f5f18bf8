/*
 * crc32c.h - CRC-32C (Castagnoli), the checksum of every log record.
 *
 * Uses the SSE4.2 crc32 instruction when the CPU has it (checked once at
 * run time) and a slicing-by-8 table otherwise. Both give identical results;
 * tests check both against the RFC 3720 vectors.
 */
#ifndef STATESTORED_CRC32C_H
#define STATESTORED_CRC32C_H

#include <stddef.h>
#include <stdint.h>

/* Returns the CRC-32C of buf[0..len). To checksum in pieces, pass the
 * previous result as crc; start with 0. */
uint32_t ss_crc32c(uint32_t crc, const void *buf, size_t len);

/* The portable table-driven implementation, exposed so tests can check it
 * on machines that have the instruction. Same contract as ss_crc32c. */
uint32_t ss_crc32c_sw(uint32_t crc, const void *buf, size_t len);

/* Returns 1 if ss_crc32c uses the hardware instruction, 0 otherwise. */
int ss_crc32c_hw_available(void);

#endif
