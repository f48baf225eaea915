extension [Double] {
    /// The middle value (the mean of the middle two for an even count), as the benchmarks and the
    /// prepare summary report it.
    public var median: Double {
        let sorted = self.sorted()
        let mid = sorted.count / 2
        return sorted.count % 2 == 1 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2
    }
}
