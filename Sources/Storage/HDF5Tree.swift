import Foundation

extension HDF5File {
    /// An indented listing of every group, dataset (type and shape) and attribute, as `inspect`
    /// prints it. Attribute strings longer than `maxValueLength` are shortened (nil: in full).
    public func treeDescription(attributes: Bool = true, maxValueLength: Int? = 120) throws -> [String] {
        var lines: [String] = []
        func show(_ value: HDF5Attribute) -> String {
            var text = value.description.replacingOccurrences(of: "\n", with: "\\n")
            if let limit = maxValueLength, text.count > limit {
                text = String(text.prefix(limit)) + "… (\(value.description.count) chars)"
            }
            return text
        }
        func attributeLines(_ object: HDF5Object, indent: String) throws {
            guard attributes else { return }
            for name in try object.attributeNames() {
                let value = (try? object.attribute(name)).map(show) ?? "(a type ToolTune does not read)"
                lines.append("\(indent)@\(name) = \(value)")
            }
        }
        func walk(_ group: HDF5Group, indent: String) throws {
            try attributeLines(group, indent: indent)
            for child in try group.children() {
                switch child.kind {
                case .group:
                    lines.append("\(indent)\(child.name)/")
                    try walk(try group.group(child.name), indent: indent + "  ")
                case .dataset(_, let typeName, let shape):
                    let count = shape.reduce(1, *)
                    lines.append("\(indent)\(child.name)  \(typeName) \(shape)  (\(count) values)")
                    try attributeLines(try group.dataset(child.name), indent: indent + "  ")
                case .other:
                    lines.append("\(indent)\(child.name)  (link or object of another kind)")
                }
            }
        }
        lines.append("/")
        try walk(try root, indent: "  ")
        return lines
    }
}
