// glossary.hpp: the core terms of heaplay, in one place.
//
// event      One record of a trace: an allocation, a free, a realloc, an object
//            and its reference changes, a collection request, a time stamp or a
//            phase marker (traces/event.hpp, docs/trace-format.md).
// slot       The dense number a reader gives each live block or object;
//            recycled after the free, so arrays indexed by slot stay as large
//            as the peak number of live IDs, never as long as the trace.
// block      Memory handed to the program by an allocation (a, or r).
// object     A reference-counted block (o); it dies when its count reaches zero
//            or when a collector finds it unreachable.
// layer      One allocator policy that serves requests from the layer above and
//            gets memory from the layer below, accounting for both.
// stack      Layers composed top to bottom, always ending in raw:
//            raw, pooled (+raw), objspec (+pooled+raw), gc (+objspec+pooled+raw).
// raw        The bottom layer: a general-purpose malloc (simulated, or the real
//            glibc, jemalloc, mimalloc or tcmalloc) that gets memory from the OS.
// size class A rounded request size; pymalloc rounds requests of 1..512 bytes
//            up to multiples of 16 and serves each class from its own pools.
// pool       A fixed-size run of memory (4 KiB in CPython 3.8, 16 KiB from 3.10)
//            carved into blocks of one size class, behind a 48-byte header.
// arena      A large allocation from raw (256 KiB in 3.8, 1 MiB from 3.10)
//            carved into pools; returned to raw when all its pools are free.
// free list  An object-specific cache of deallocated objects of one type and
//            size (float, tuple of length n, list, dict, ...), reused by the
//            next allocation of the same kind without asking the layer below.
// live       Bytes or objects the program still holds, per the trace.
// allocated  Bytes handed out by the top layer (after size-class rounding,
//            including objects parked on free lists).
// held       Bytes the whole stack holds from the operating system.
// footprint  Held bytes over time; its peak is what a service must provision.
//
// The engine library itself (layers and the replay loop) arrives with the
// replay-engine issue; this header fixes the vocabulary the traces and
// reports libraries already use.
#pragma once
