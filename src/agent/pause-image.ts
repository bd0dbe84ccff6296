/**
 * The pause image: what a Docker sandbox's infra container runs. It only holds the pod's
 * namespaces open, so it needs one tiny static executable that blocks forever and nothing
 * else. No registry is assumed (offline machines, air-gapped clusters), so the runtime builds
 * the image itself: a hand-assembled ELF, wrapped in a one-file tar, given to `docker import`.
 *
 * The machine code is spelled out below byte by byte (x86-64 and aarch64); no compiler is
 * needed at run time. Other architectures get a clear error asking for an infra image.
 */

import { Readable } from 'node:stream'
import type Docker from 'dockerode'

/** The architectures with a built-in pause executable, as Docker names them (`Arch`). */
export const PAUSE_ARCHES = ['amd64', 'arm64'] as const

/** The engine's architecture has no built-in pause executable. */
export class NoPauseBinaryError extends Error {
  override name = 'NoPauseBinaryError'
}

const LOAD_ADDRESS = 0x400000
const ELF_HEADER_BYTES = 64
const PROGRAM_HEADER_BYTES = 56

/**
 * x86-64: `loop: mov eax, 34 (pause); syscall; jmp loop`. pause(2) returns only when a handled
 * signal arrives; PID 1 of a container handles none (SIGKILL still ends it).
 */
const X86_64_CODE = [
  0xb8,
  0x22,
  0x00,
  0x00,
  0x00, // mov eax, 34 (__NR_pause)
  0x0f,
  0x05, //                   syscall
  0xeb,
  0xf7, //                   jmp -9 (back to mov)
]

/**
 * aarch64 has no pause(2): `loop: ppoll(NULL, 0, NULL, NULL); b loop` blocks the same way.
 * Little-endian 32-bit words.
 */
const AARCH64_CODE = [
  0xd2800000, // movz x0, #0    (fds = NULL)
  0xd2800001, // movz x1, #0    (nfds = 0)
  0xd2800002, // movz x2, #0    (timeout = NULL: forever)
  0xd2800003, // movz x3, #0    (sigmask = NULL)
  0xd2800928, // movz x8, #73   (__NR_ppoll)
  0xd4000001, // svc #0
  0x17fffffa, // b -24 (back to the first movz)
]

/** A minimal static ELF64 executable (one PT_LOAD segment, no sections) for `arch`. */
export function pauseExecutable(arch: string): Buffer {
  let machine: number
  let code: Buffer
  let align: number
  if (arch === 'amd64' || arch === 'x86_64' || arch === 'x64') {
    machine = 62 // EM_X86_64
    code = Buffer.from(X86_64_CODE)
    align = 0x1000
  } else if (arch === 'arm64' || arch === 'aarch64') {
    machine = 183 // EM_AARCH64
    code = Buffer.alloc(AARCH64_CODE.length * 4)
    for (const [i, word] of AARCH64_CODE.entries()) code.writeUInt32LE(word, i * 4)
    align = 0x10000 // arm64 kernels may use 64 KiB pages
  } else {
    throw new NoPauseBinaryError(
      `no built-in pause executable for the engine's architecture '${arch}' ` +
        `(built in: ${PAUSE_ARCHES.join(', ')}): pass an infra image that the engine has (infraImage)`,
    )
  }
  const entry = ELF_HEADER_BYTES + PROGRAM_HEADER_BYTES
  const size = entry + code.length
  const elf = Buffer.alloc(size)
  // ELF header.
  elf.write('\x7fELF', 0, 'latin1')
  elf[4] = 2 // ELFCLASS64
  elf[5] = 1 // ELFDATA2LSB
  elf[6] = 1 // EV_CURRENT
  elf[7] = 0 // ELFOSABI_SYSV
  elf.writeUInt16LE(2, 16) // e_type: ET_EXEC
  elf.writeUInt16LE(machine, 18) // e_machine
  elf.writeUInt32LE(1, 20) // e_version
  elf.writeBigUInt64LE(BigInt(LOAD_ADDRESS + entry), 24) // e_entry
  elf.writeBigUInt64LE(BigInt(ELF_HEADER_BYTES), 32) // e_phoff
  elf.writeBigUInt64LE(0n, 40) // e_shoff: no sections
  elf.writeUInt32LE(0, 48) // e_flags
  elf.writeUInt16LE(ELF_HEADER_BYTES, 52) // e_ehsize
  elf.writeUInt16LE(PROGRAM_HEADER_BYTES, 54) // e_phentsize
  elf.writeUInt16LE(1, 56) // e_phnum
  elf.writeUInt16LE(64, 58) // e_shentsize
  elf.writeUInt16LE(0, 60) // e_shnum
  elf.writeUInt16LE(0, 62) // e_shstrndx
  // Program header: the whole file, read + execute, at LOAD_ADDRESS.
  const ph = ELF_HEADER_BYTES
  elf.writeUInt32LE(1, ph) // p_type: PT_LOAD
  elf.writeUInt32LE(5, ph + 4) // p_flags: PF_R | PF_X
  elf.writeBigUInt64LE(0n, ph + 8) // p_offset
  elf.writeBigUInt64LE(BigInt(LOAD_ADDRESS), ph + 16) // p_vaddr
  elf.writeBigUInt64LE(BigInt(LOAD_ADDRESS), ph + 24) // p_paddr
  elf.writeBigUInt64LE(BigInt(size), ph + 32) // p_filesz
  elf.writeBigUInt64LE(BigInt(size), ph + 40) // p_memsz
  elf.writeBigUInt64LE(BigInt(align), ph + 48) // p_align
  code.copy(elf, entry)
  return elf
}

/** A file for `tarArchive`. */
export interface TarEntry {
  name: string
  mode: number
  data: Buffer
}

/** A ustar archive of regular files (names under 100 bytes), owned by root, dated 0. */
export function tarArchive(entries: TarEntry[]): Buffer {
  const blocks: Buffer[] = []
  for (const e of entries) {
    if (Buffer.byteLength(e.name) >= 100) throw new Error(`tar entry name too long: ${e.name}`)
    const h = Buffer.alloc(512)
    const octal = (value: number, offset: number, width: number): void => {
      h.write(`${value.toString(8).padStart(width - 1, '0')}\0`, offset, width, 'latin1')
    }
    h.write(e.name, 0, 100, 'utf8')
    octal(e.mode, 100, 8)
    octal(0, 108, 8) // uid
    octal(0, 116, 8) // gid
    octal(e.data.length, 124, 12)
    octal(0, 136, 12) // mtime
    h.write('        ', 148, 8, 'latin1') // checksum counted as spaces
    h.write('0', 156, 1, 'latin1') // typeflag: regular file
    h.write('ustar\0', 257, 6, 'latin1')
    h.write('00', 263, 2, 'latin1')
    h.write('root', 265, 32, 'latin1')
    h.write('root', 297, 32, 'latin1')
    let sum = 0
    for (const b of h) sum += b
    h.write(`${sum.toString(8).padStart(6, '0')}\0 `, 148, 8, 'latin1')
    blocks.push(h, e.data, Buffer.alloc((512 - (e.data.length % 512)) % 512))
  }
  blocks.push(Buffer.alloc(1024)) // two zero blocks end the archive
  return Buffer.concat(blocks)
}

/** Splits `repo[:tag]` (a registry port is not a tag). */
export function splitImageRef(ref: string): { repo: string; tag: string } {
  const slash = ref.lastIndexOf('/')
  const colon = ref.lastIndexOf(':')
  if (colon > slash) return { repo: ref.slice(0, colon), tag: ref.slice(colon + 1) }
  return { repo: ref, tag: 'latest' }
}

/**
 * Builds the pause image `ref` on the engine for the engine's architecture: `/pause`, run as
 * `CMD ["/pause"]`. Resolves once the engine has it.
 */
export async function buildPauseImage(docker: Docker, ref: string, timeoutMs = 60_000): Promise<void> {
  const { Arch } = await docker.version()
  const tar = tarArchive([{ name: 'pause', mode: 0o755, data: pauseExecutable(Arch) }])
  const { repo, tag } = splitImageRef(ref)
  const abort = new AbortController()
  const timer = setTimeout(() => abort.abort(), timeoutMs)
  try {
    const progress = await docker.importImage(Readable.from([tar]), {
      repo,
      tag,
      changes: ['CMD ["/pause"]'],
      message: 'shoal pause image (built in-process)',
      abortSignal: abort.signal,
    })
    await new Promise<void>((resolve, reject) => {
      docker.modem.followProgress(progress, (err: Error | null) => (err ? reject(err) : resolve()))
    })
  } finally {
    clearTimeout(timer)
  }
  // The import answers before some engines tag; make sure the name resolves now.
  await docker.getImage(ref).inspect()
}
