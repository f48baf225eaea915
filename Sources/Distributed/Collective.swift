extension Communicator {
    /// Runs `body` on every rank. If it throws on any rank of a multi-rank job, that rank aborts the
    /// whole job with its message, so the other ranks never wait forever in a collective; a
    /// single-rank job gets the error back.
    public func runCollectively<T>(_ body: (Communicator) throws -> T) rethrows -> T {
        do {
            return try body(self)
        } catch {
            if size > 1 { abort("\(error)") }
            throw error
        }
    }
}
