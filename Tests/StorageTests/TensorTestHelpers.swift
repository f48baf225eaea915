import Foundation
import Storage
import TestSupport

/// Calls `body` with `Float32Tensor`s over `tensors`' values (valid only inside `body`).
func withFloat32Tensors<R>(_ tensors: [(name: String, shape: [Int], values: [Float])],
                           _ body: ([Float32Tensor]) throws -> R) rethrows -> R {
    let flat = tensors.flatMap(\.values)
    return try flat.withUnsafeBufferPointer { buffer in
        var start = 0
        let views = tensors.map { tensor in
            defer { start += tensor.values.count }
            return Float32Tensor(name: tensor.name, shape: tensor.shape,
                                 values: UnsafeBufferPointer(rebasing: buffer[start..<(start + tensor.values.count)]))
        }
        return try body(views)
    }
}

/// The error `body` throws, described, or a note that it threw none.
func errorText(_ body: () throws -> Void) -> String {
    do {
        try body()
        return "no error"
    } catch {
        return "\(error)"
    }
}
