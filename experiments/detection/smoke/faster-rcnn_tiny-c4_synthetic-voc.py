# Smoke scale of the paper's C4 Faster R-CNN (../faster-rcnn_r50-c4_voc0712.py): the same detector around the
# harness's smoke stand-in for ResNet-50 (resnet_tiny: timm's 64-channel stem, then one basic block per stage, widths 16-128), on the
# embedded VOC-layout set (128 px, VOC2007 only), for 60 CPU iterations. NOT comparable to the paper.
_base_ = ['../faster-rcnn_r50-c4_voc0712.py']

max_iters = 60
image_scale = (128, 128)
model = dict(
    backbone=dict(type='StandInResNet', depth='tiny', stem_channels=64, base_channels=16),
    rpn_head=dict(in_channels=64, feat_channels=64, anchor_generator=dict(scales=[1, 2, 4])),
    roi_head=dict(
        shared_head=dict(type='StandInResLayer', depth='tiny', base_channels=16),
        bbox_roi_extractor=dict(out_channels=64),
        bbox_head=dict(in_channels=128)),
    train_cfg=dict(rpn_proposal=dict(nms_pre=1000, max_per_img=200), rcnn=dict(sampler=dict(num=32))),
    test_cfg=dict(rpn=dict(nms_pre=1000, max_per_img=100)))

train_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='LoadAnnotations', with_bbox=True),
    dict(type='Resize', scale=image_scale, keep_ratio=True),
    dict(type='RandomFlip', prob=0.5),
    dict(type='PackDetInputs'),
]
test_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='Resize', scale=image_scale, keep_ratio=True),
    dict(type='LoadAnnotations', with_bbox=True),
    dict(type='PackDetInputs', meta_keys=('img_id', 'img_path', 'ori_shape', 'img_shape', 'scale_factor')),
]
train_dataloader = dict(
    batch_size=8,
    num_workers=0,
    persistent_workers=False,
    dataset=dict(
        _delete_=True, type='VOCDataset', data_root={{_base_.data_root}}, ann_file='VOC2007/ImageSets/Main/trainval.txt',
        data_prefix=dict(sub_data_root='VOC2007/'), filter_cfg=dict(filter_empty_gt=True), pipeline=train_pipeline))
val_dataloader = dict(num_workers=0, persistent_workers=False, dataset=dict(pipeline=test_pipeline))
test_dataloader = val_dataloader

train_cfg = dict(max_iters=max_iters, val_interval=max_iters)
param_scheduler = [
    dict(type='LinearLR', start_factor=0.01, by_epoch=False, begin=0, end=10),
    dict(type='MultiStepLR', by_epoch=False, begin=0, end=max_iters, milestones=[48], gamma=0.1),
]
default_hooks = dict(checkpoint=dict(interval=30), logger=dict(interval=20))
