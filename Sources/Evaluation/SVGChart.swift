import Foundation

/// A line chart as a standalone SVG file: axes with round-number ticks, one polyline (with point marks
/// when there are few points) per series, a legend on the right.
public struct SVGChart: Sendable {
    public struct Series: Sendable {
        public var name: String
        public var points: [(x: Double, y: Double)]

        public init(name: String, points: [(x: Double, y: Double)]) {
            self.name = name
            self.points = points
        }
    }

    public var title: String
    public var xLabel: String
    public var yLabel: String
    public var series: [Series]
    /// Values are fractions shown as percentages, on a fixed 0-100% axis.
    public var percent: Bool

    public init(title: String, xLabel: String, yLabel: String, series: [Series], percent: Bool = false) {
        self.title = title
        self.xLabel = xLabel
        self.yLabel = yLabel
        self.series = series
        self.percent = percent
    }

    static let width = 640.0, height = 320.0
    static let left = 64.0, right = 170.0, top = 36.0, bottom = 48.0
    static let colors = ["#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd", "#8c564b", "#e377c2", "#17becf"]

    public func render() -> String {
        let plotWidth = Self.width - Self.left - Self.right, plotHeight = Self.height - Self.top - Self.bottom
        let points = series.flatMap(\.points).filter { $0.y.isFinite }
        let xs = Axis(points.map(\.x), integers: true)
        let ys = percent ? Axis(lower: 0, upper: 1, step: 0.2) : Axis(points.map(\.y), integers: false)
        func px(_ x: Double) -> Double { Self.left + (x - xs.lower) / (xs.upper - xs.lower) * plotWidth }
        func py(_ y: Double) -> Double { Self.top + plotHeight - (y - ys.lower) / (ys.upper - ys.lower) * plotHeight }
        var svg = """
            <svg xmlns="http://www.w3.org/2000/svg" width="\(f(Self.width))" height="\(f(Self.height))" \
            viewBox="0 0 \(f(Self.width)) \(f(Self.height))" font-family="sans-serif" font-size="11">
            <rect width="100%" height="100%" fill="white"/>
            <text x="\(f(Self.width / 2))" y="20" text-anchor="middle" font-size="14">\(escape(title))</text>

            """
        // Grid, ticks and tick labels.
        for y in ys.ticks {
            svg += "<line x1=\"\(f(Self.left))\" y1=\"\(f(py(y)))\" x2=\"\(f(Self.left + plotWidth))\" y2=\"\(f(py(y)))\" stroke=\"#e0e0e0\"/>\n"
            let label = percent ? String(format: "%.0f%%", y * 100) : ys.label(y)
            svg += "<text x=\"\(f(Self.left - 6))\" y=\"\(f(py(y) + 4))\" text-anchor=\"end\">\(label)</text>\n"
        }
        for x in xs.ticks {
            svg += "<line x1=\"\(f(px(x)))\" y1=\"\(f(Self.top + plotHeight))\" x2=\"\(f(px(x)))\" y2=\"\(f(Self.top + plotHeight + 4))\" stroke=\"black\"/>\n"
            svg += "<text x=\"\(f(px(x)))\" y=\"\(f(Self.top + plotHeight + 16))\" text-anchor=\"middle\">\(xs.label(x))</text>\n"
        }
        svg += "<rect x=\"\(f(Self.left))\" y=\"\(f(Self.top))\" width=\"\(f(plotWidth))\" height=\"\(f(plotHeight))\" fill=\"none\" stroke=\"black\"/>\n"
        svg += "<text x=\"\(f(Self.left + plotWidth / 2))\" y=\"\(f(Self.height - 10))\" text-anchor=\"middle\">\(escape(xLabel))</text>\n"
        svg += "<text transform=\"translate(14 \(f(Self.top + plotHeight / 2))) rotate(-90)\" text-anchor=\"middle\">\(escape(yLabel))</text>\n"
        // Series and legend.
        for (i, s) in series.enumerated() {
            let color = Self.colors[i % Self.colors.count]
            let shown = s.points.filter { $0.y.isFinite }
            if shown.count > 1 {
                let path = shown.map { "\(f(px($0.x))),\(f(py($0.y)))" }.joined(separator: " ")
                svg += "<polyline points=\"\(path)\" fill=\"none\" stroke=\"\(color)\" stroke-width=\"1.5\"/>\n"
            }
            if shown.count <= 40 {
                for p in shown { svg += "<circle cx=\"\(f(px(p.x)))\" cy=\"\(f(py(p.y)))\" r=\"3\" fill=\"\(color)\"/>\n" }
            }
            let ly = Self.top + 8 + Double(i) * 16
            svg += "<line x1=\"\(f(Self.width - Self.right + 12))\" y1=\"\(f(ly))\" x2=\"\(f(Self.width - Self.right + 30))\" y2=\"\(f(ly))\" stroke=\"\(color)\" stroke-width=\"2\"/>\n"
            svg += "<text x=\"\(f(Self.width - Self.right + 36))\" y=\"\(f(ly + 4))\">\(escape(s.name))</text>\n"
        }
        if points.isEmpty {
            svg += "<text x=\"\(f(Self.left + plotWidth / 2))\" y=\"\(f(Self.top + plotHeight / 2))\" text-anchor=\"middle\">no data</text>\n"
        }
        return svg + "</svg>\n"
    }

    /// A coordinate with 2 decimals (enough for a 640-pixel drawing).
    func f(_ v: Double) -> String { String(format: "%.2f", v) }

    func escape(_ text: String) -> String {
        text.replacingOccurrences(of: "&", with: "&amp;").replacingOccurrences(of: "<", with: "&lt;")
            .replacingOccurrences(of: ">", with: "&gt;").replacingOccurrences(of: "\"", with: "&quot;")
    }

    /// An axis range widened to round numbers, with about five ticks of 1, 2 or 5 times a power of ten.
    struct Axis {
        var lower: Double, upper: Double, step: Double

        init(lower: Double, upper: Double, step: Double) {
            self.lower = lower
            self.upper = upper
            self.step = step
        }

        init(_ values: [Double], integers: Bool) {
            var lo = values.min() ?? 0, hi = values.max() ?? 1
            if hi - lo < 1e-12 { lo -= integers ? 1 : max(abs(lo) * 0.1, 0.1); hi += integers ? 1 : max(abs(hi) * 0.1, 0.1) }
            let raw = (hi - lo) / 5
            let magnitude = Foundation.pow(10, Foundation.floor(Foundation.log10(raw)))
            var step = [1.0, 2, 5, 10].map { $0 * magnitude }.first { $0 >= raw } ?? 1
            if integers { step = max(1, step.rounded()) }
            // Steps and counts never go below 0: do not draw an axis that does.
            let floor = (values.min() ?? 0) >= 0 ? 0.0 : -Double.infinity
            self.init(lower: max(floor, Foundation.floor(lo / step) * step), upper: Foundation.ceil(hi / step) * step, step: step)
        }

        var ticks: [Double] {
            // Values read back from evaluation files may span more than a Double holds (1e308 and -1e308).
            let count = ((upper - lower) / step).rounded()
            guard count.isFinite, count >= 0, count <= 100 else { return [lower, upper].filter(\.isFinite) }
            return (0...Int(count)).map { lower + Double($0) * step }
        }

        func label(_ v: Double) -> String {
            let decimals = max(0, Int(-Foundation.floor(Foundation.log10(step) + 1e-9)))
            return String(format: "%.\(decimals)f", v)
        }
    }
}
