import CKernels

// The forward pass's parallel steps, on the CKernels worker pool (Sources/CKernels/pool.c).

/// Runs `body(index, worker)` for every index in 0..<count on up to `workers` threads of the
/// CKernels pool (`bc_pool_run`): the calling thread and pool threads each take the next
/// unclaimed index until none are left, so a thread on a busier core simply takes fewer.
/// `worker` is below min(workers, count), and no two threads use the same one at once.
func onPool(_ count: Int, workers: Int, _ body: (_ index: Int, _ worker: Int) -> Void) {
    withoutActuallyEscaping(body) { body in
        var task = body
        withUnsafeMutablePointer(to: &task) { task in
            bc_pool_run(count, workers, { context, index, worker in
                context!.assumingMemoryBound(to: ((Int, Int) -> Void).self).pointee(index, worker)
            }, task)
        }
    }
}

/// Splits `count` items into contiguous chunks run on up to `workers` threads.
func parallelChunks(_ count: Int, workers: Int, minimumChunk: Int = 1, _ body: (Range<Int>) -> Void) {
    let chunks = max(1, min(workers, count / max(minimumChunk, 1)))
    if chunks == 1 {
        body(0..<count)
        return
    }
    onPool(chunks, workers: chunks) { c, _ in
        body(count * c / chunks..<count * (c + 1) / chunks)
    }
}
