using ScottPlot;

namespace ByolIlgpu.Training;

/// <summary>A PNG of the run: BYOL loss per epoch (left axis) and kNN top-1 accuracy (right axis); written atomically.</summary>
public static class TrainingPlot
{
    public static void Save(IReadOnlyList<MetricsRow> rows, string path, string title = "BYOL training")
    {
        var plot = new Plot();
        plot.Title(title);
        plot.XLabel("epoch");
        if (rows.Count > 0)
        {
            var lossRows = rows.Where(r => r.Loss.HasValue).ToList();
            var loss = plot.Add.Scatter(lossRows.Select(r => (double)r.Epoch).ToArray(), lossRows.Select(r => r.Loss!.Value).ToArray());
            loss.LegendText = "loss";
            plot.Axes.Left.Label.Text = "loss";
            var knnRows = rows.Where(r => r.KnnTop1.HasValue).ToList();
            if (knnRows.Count > 0)
            {
                var knn = plot.Add.Scatter(knnRows.Select(r => (double)r.Epoch).ToArray(), knnRows.Select(r => 100 * r.KnnTop1!.Value).ToArray());
                knn.LegendText = "kNN top-1 (%)";
                knn.Axes.YAxis = plot.Axes.Right;
                plot.Axes.Right.Label.Text = "kNN top-1 (%)";
            }
            plot.ShowLegend(Alignment.UpperCenter);
        }
        Checkpoints.AtomicFile.WriteAllBytes(path, plot.GetImageBytes(800, 500, ImageFormat.Png));
    }
}
