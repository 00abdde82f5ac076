# Faster R-CNN, ResNet-50 C4, on Pascal VOC 07+12: the CutMix paper's Table 10 protocol (Sec. 4.2.3).
# conv1-layer3 are the shared trunk, layer4 runs on each RoI (14x14 RoIAlign -> layer4 -> 7x7), frozen BN;
# train on VOC2007+VOC2012 trainval, test on VOC2007 test (VOC07 11-point mAP); 120k iterations of batch 8,
# lr 0.01, x0.1 at 100k. The backbone weights are the harness's own ImageNet run (run_all.py converts and
# loads them, checked key by key); nothing is downloaded (init_cfg=None).
# Not given by the paper, kept at MMDetection's defaults: image scale (1000, 600), the 500-iteration warm-up.
_base_ = [
    'mmdet::_base_/models/faster-rcnn_r50-caffe-c4.py',
    'mmdet::_base_/datasets/voc0712.py',
    'mmdet::_base_/default_runtime.py',
]
custom_imports = dict(imports=['harness.detection.mmdet_modules'], allow_failed_imports=False)

max_iters = 120000
model = dict(
    # timm's ImageNet normalisation, RGB: the harness's backbones were trained so
    data_preprocessor=dict(mean=[123.675, 116.28, 103.53], std=[58.395, 57.12, 57.375], bgr_to_rgb=True),
    backbone=dict(style='pytorch', init_cfg=None),
    roi_head=dict(shared_head=dict(style='pytorch', init_cfg=None), bbox_head=dict(num_classes=20)))

train_dataloader = dict(
    batch_size=8,
    num_workers=4,
    sampler=dict(type='InfiniteSampler', shuffle=True),
    batch_sampler=None,
    dataset=dict(
        _delete_=True,
        type='ConcatDataset',
        ignore_keys=['dataset_type'],
        datasets=[
            dict(type='VOCDataset', data_root={{_base_.data_root}}, ann_file=f'{year}/ImageSets/Main/trainval.txt',
                 data_prefix=dict(sub_data_root=f'{year}/'), filter_cfg=dict(filter_empty_gt=True, min_size=32),
                 pipeline={{_base_.train_pipeline}})
            for year in ('VOC2007', 'VOC2012')
        ]))
val_evaluator = dict(_delete_=True, type='VOC07Metric')
test_evaluator = val_evaluator

train_cfg = dict(type='IterBasedTrainLoop', max_iters=max_iters, val_interval=max_iters)
val_cfg = dict(type='ValLoop')
test_cfg = dict(type='TestLoop')
optim_wrapper = dict(type='OptimWrapper', optimizer=dict(type='SGD', lr=0.01, momentum=0.9, weight_decay=0.0001))
param_scheduler = [
    dict(type='LinearLR', start_factor=0.001, by_epoch=False, begin=0, end=500),
    dict(type='MultiStepLR', by_epoch=False, begin=0, end=max_iters, milestones=[100000], gamma=0.1),
]
default_hooks = dict(checkpoint=dict(type='CheckpointHook', by_epoch=False, interval=10000, max_keep_ckpts=2))
log_processor = dict(by_epoch=False)
