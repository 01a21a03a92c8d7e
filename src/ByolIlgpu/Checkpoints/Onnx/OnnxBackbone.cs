using System.Reflection;
using ByolIlgpu.Layers;
using Google.Protobuf;

namespace ByolIlgpu.Checkpoints.Onnx;

/// <summary>
/// The backbone as an ONNX inference graph (IR version 8, default-domain opset 17):
/// <code>
///   images (N, 3, H, W) float32, normalised
///   → Conv conv1 → BatchNormalization bn1 → Relu [→ MaxPool 3×3 s2 p1: imagenet stem]
///   → 8 BasicBlocks: Conv → BN → Relu → Conv → BN, + (x | Conv → BN downsample), Add → Relu
///   → GlobalAveragePool (N, 8w, 1, 1) → Flatten(axis 1)
///   → features (N, 8w)
/// </code>
/// N is a dynamic axis (dim_param "N"); H = W = the image size trained at. BatchNorm stays a
/// BatchNormalization node with the running statistics (inference mode), not folded into the
/// convolutions: the graph then holds exactly the state dict's tensors under the same names
/// (conv1.weight, layer1.0.bn1.running_var, …), its numbers are those of PyTorch's eval mode
/// rather than a re-rounded product of weights and 1/√(σ² + ε), and ONNX Runtime folds BN into
/// the preceding convolution itself when it optimises the session, so nothing is lost in speed.
/// Opset 17 is the newest that Debian's python3-onnx 1.12 checks; every operator used here has
/// been unchanged since opset 15 (BatchNormalization) or earlier.
/// </summary>
public static class OnnxBackbone
{
    public const long IrVersion = 8;
    public const long Opset = 17;
    public const string InputName = "images", OutputName = "features", BatchAxis = "N";

    public static ModelProto Build(ExportedBackbone backbone)
    {
        var net = backbone.Structure;
        var graph = new GraphProto
        {
            Name = $"resnet18_{net.Stem}_w{net.Width}_backbone",
            DocString = $"ResNet-18 backbone ({net.Stem} stem, width {net.Width}) of a BYOL {backbone.Network}, inference mode: "
                + $"{InputName} (N, 3, {backbone.ImageSize}, {backbone.ImageSize}) normalised float32 → {OutputName} (N, {net.FeatureDim}) after global average pooling.",
        };
        graph.Input.Add(TensorValue(InputName, Dim(BatchAxis), Dim(3), Dim(backbone.ImageSize), Dim(backbone.ImageSize)));
        graph.Output.Add(TensorValue(OutputName, Dim(BatchAxis), Dim(net.FeatureDim)));

        var builder = new GraphBuilder(graph, backbone.Tensors);
        string h = builder.Relu("relu", builder.BatchNorm(net.Bn1, builder.Conv("conv1", net.Conv1, InputName)));
        if (net.Stem == ResNet18.ImageNetStem)
            h = builder.Node("MaxPool", "maxpool", [h], Ints("kernel_shape", 3, 3), Ints("strides", 2, 2), Ints("pads", 1, 1, 1, 1));
        for (int i = 0; i < net.Blocks.Count; i++)
        {
            var block = net.Blocks[i];
            string name = $"layer{i / 2 + 1}.{i % 2}";
            string y = builder.Relu(name + ".relu1", builder.BatchNorm(block.Bn1, builder.Conv(name + ".conv1", block.Conv1, h)));
            y = builder.BatchNorm(block.Bn2, builder.Conv(name + ".conv2", block.Conv2, y));
            string shortcut = block.DownsampleConv is null
                ? h
                : builder.BatchNorm(block.DownsampleBn!, builder.Conv(name + ".downsample.0", block.DownsampleConv, h));
            h = builder.Relu(name + ".relu2", builder.Node("Add", name + ".add", [y, shortcut]));
        }
        string pooled = builder.Node("GlobalAveragePool", "avgpool", [h]);
        builder.Node("Flatten", "flatten", [pooled], outputName: OutputName, attributes: [Int("axis", 1)]);

        var model = new ModelProto
        {
            IrVersion = IrVersion,
            ProducerName = "byol",
            ProducerVersion = typeof(OnnxBackbone).Assembly.GetCustomAttribute<AssemblyInformationalVersionAttribute>()?.InformationalVersion ?? "",
            Domain = "byol-ilgpu",
            ModelVersion = 1,
            DocString = graph.DocString,
            Graph = graph,
        };
        model.OpsetImport.Add(new OperatorSetIdProto { Domain = "", Version = Opset });
        foreach (var (key, value) in backbone.Metadata())
            model.MetadataProps.Add(new StringStringEntryProto { Key = key, Value = value });
        return model;
    }

    static TensorShapeProto.Types.Dimension Dim(long size) => new() { DimValue = size };
    static TensorShapeProto.Types.Dimension Dim(string symbol) => new() { DimParam = symbol };

    static ValueInfoProto TensorValue(string name, params TensorShapeProto.Types.Dimension[] dims)
    {
        var shape = new TensorShapeProto();
        shape.Dim.AddRange(dims);
        return new ValueInfoProto
        {
            Name = name,
            Type = new TypeProto { TensorType = new TypeProto.Types.Tensor { ElemType = (int)TensorProto.Types.DataType.Float, Shape = shape } },
        };
    }

    static AttributeProto Ints(string name, params long[] values)
    {
        var a = new AttributeProto { Name = name, Type = AttributeProto.Types.AttributeType.Ints };
        a.Ints.AddRange(values);
        return a;
    }

    static AttributeProto Int(string name, long value) => new() { Name = name, Type = AttributeProto.Types.AttributeType.Int, I = value };

    static AttributeProto Float(string name, float value) => new() { Name = name, Type = AttributeProto.Types.AttributeType.Float, F = value };

    /// <summary>Appends nodes in topological order; node outputs are named "&lt;node&gt;.output", initializers as the state dict.</summary>
    sealed class GraphBuilder(GraphProto graph, TensorMap tensors)
    {
        public string Node(string opType, string name, string[] inputs, params AttributeProto[] attributes) =>
            Node(opType, name, inputs, name + ".output", attributes);

        public string Node(string opType, string name, string[] inputs, string outputName, AttributeProto[] attributes)
        {
            var node = new NodeProto { OpType = opType, Name = name };
            node.Input.AddRange(inputs);
            node.Output.Add(outputName);
            node.Attribute.AddRange(attributes);
            graph.Node.Add(node);
            return outputName;
        }

        public string Relu(string name, string x) => Node("Relu", name, [x]);

        /// <summary>Conv without bias: Y = W ⋆ X, W (K, C, R, S), stride and symmetric padding from the layer.</summary>
        public string Conv(string module, Conv2d conv, string x)
        {
            string weight = Initializer(conv.Weight.Name);
            return Node("Conv", module, [x, weight],
                Ints("kernel_shape", conv.Kernel, conv.Kernel), Ints("strides", conv.Stride, conv.Stride),
                Ints("pads", conv.Padding, conv.Padding, conv.Padding, conv.Padding), Ints("dilations", 1, 1), Int("group", 1));
        }

        /// <summary>Inference-mode BatchNormalization: Y = γ·(X − running_mean)/√(running_var + ε) + β.</summary>
        public string BatchNorm(Layers.BatchNorm bn, string x) =>
            Node("BatchNormalization", bn.Name, [x, Initializer(bn.Gamma.Name), Initializer(bn.Beta.Name),
                Initializer(bn.RunningMean.Name), Initializer(bn.RunningVar.Name)], Float("epsilon", bn.Eps), Float("momentum", 1f - bn.Momentum));

        /// <summary>The state dict's F32 tensor as an initializer of the same name (raw little-endian data).</summary>
        string Initializer(string name)
        {
            var t = tensors.Expect(name, SafeTensorsDType.F32, tensors[name].Shape);
            var proto = new TensorProto { Name = name, DataType = (int)TensorProto.Types.DataType.Float, RawData = ByteString.CopyFrom(t.Bytes) };
            proto.Dims.AddRange(t.Shape.Select(d => (long)d));
            graph.Initializer.Add(proto);
            return name;
        }
    }
}
